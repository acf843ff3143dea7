//! The registry commands end to end against a real registry (Debian's `docker-registry` on 127.0.0.1,
//! started per test): `image push`, `pull`, `up` pulling what is missing, `login`/`logout` with
//! htpasswd basic auth, a docker.io mirror serving unchanged names, and skopeo reading what we push and
//! writing what we pull. Running the pulled image needs root (skipped without, unless
//! `RCOMPOSE_TEST_ROOT=1`).

mod common;
#[path = "common/registry.rs"]
mod registry_fixture;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::Fixture;
use registry_fixture::{Proxy, Registry, TokenFront, can_run_registry, multi_layer_archive};
use serde_json::Value;

/// A fixture whose store has the three-layer test image as `app:1`; a separate DOCKER_CONFIG.
fn fixture(name: &str, compose: &str) -> Fixture {
    let fixture = Fixture::without_image(name, compose);
    let archive = fixture.path().join("app.tar");
    std::fs::write(
        &archive,
        multi_layer_archive("app:1", "hello from the registry"),
    )
    .unwrap();
    fixture.ok(&["image", "load", "-i", archive.to_str().unwrap()]);
    fixture
}

fn with_env(fixture: &Fixture, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = fixture.cmd(args);
    command.env("DOCKER_CONFIG", fixture.path().join("docker"));
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn inspect(fixture: &Fixture, name: &str) -> Value {
    let out = fixture.ok(&["image", "inspect", name]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

fn skopeo(args: &[&str]) -> String {
    let output = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo {args:?}: {}",
        text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn push_remove_pull_and_run_with_the_same_digests() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let image = format!("{}/team/app:1", registry.host());
    let fixture = fixture(
        "regpush",
        &format!("services:\n  app:\n    image: {image}\n"),
    );
    let original = inspect(&fixture, "app:1");
    fixture.ok(&["image", "tag", "app:1", &image]);
    let pushed = fixture.ok(&["image", "push", &image]);
    let digest = pushed
        .split("digest: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {pushed:?}"))
        .to_owned();

    // skopeo reads what we pushed, with the same digest.
    let seen: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]))
    .unwrap();
    assert_eq!(seen["Digest"], digest.as_str());
    assert_eq!(seen["Layers"].as_array().unwrap().len(), 3);

    // Pushed again as JSON events: one per blob, each already there.
    let again = with_env(&fixture, &["--progress", "json", "push"], &[], "");
    assert!(again.status.success(), "{}", text(&again));
    let existing = String::from_utf8_lossy(&again.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| {
            event["status"] == "Layer already exists"
                && event["parent_id"] == format!("Image {image}").as_str()
                && event["done"] == true
        })
        .count();
    assert_eq!(existing, 4, "3 layers and the config: {}", text(&again));

    fixture.ok(&["image", "rm", "app:1"]);
    fixture.ok(&["image", "rm", &image]);
    assert!(
        fixture
            .fails(&["image", "inspect", &image])
            .contains("no such image")
    );

    let output = with_env(&fixture, &["--progress", "json", "pull"], &[], "");
    assert!(output.status.success(), "{}", text(&output));
    let pulled = inspect(&fixture, &image);
    // One event per layer as its bytes arrive and when it is complete, docker compose's fields.
    let events: Vec<Value> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let parent = format!("Image {image}");
    let layer_events = |status: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|event| event["status"] == status && event["parent_id"] == parent.as_str())
            .collect()
    };
    let complete = layer_events("Pull complete");
    assert_eq!(complete.len(), 3, "{events:#?}");
    assert!(
        complete
            .iter()
            .all(|event| event["id"].as_str().unwrap().starts_with("Layer ")
                && event["done"] == true)
    );
    let downloading = layer_events("Downloading");
    assert!(
        downloading.iter().any(|event| {
            let (current, total) = (
                event["current"].as_u64().unwrap(),
                event["total"].as_u64().unwrap(),
            );
            current < total && total > 3 << 20 && event["percent"].as_u64().unwrap() < 100
        }),
        "the 3 MiB layer reports its bytes on the way: {events:#?}"
    );
    // And the image, all its layers together, with the rate.
    let totals: Vec<&Value> = events
        .iter()
        .filter(|event| event["id"] == parent.as_str() && event["status"] == "Pulling")
        .filter(|event| event["total"].is_u64())
        .collect();
    let last = totals.last().expect("the image reports its bytes");
    assert_eq!(last["current"], last["total"], "{totals:#?}");
    assert_eq!(last["percent"], 100);
    assert!(last["rate"].as_u64().unwrap() > 0, "{totals:#?}");
    assert!(last["total"].as_u64().unwrap() > 3 << 20);
    assert_eq!(pulled["Id"], original["Id"]);
    assert_eq!(
        pulled["RepoDigests"],
        serde_json::json!([format!("{}/team/app@{digest}", registry.host())])
    );
    assert_eq!(pulled["RepoTags"], serde_json::json!([image.clone()]));

    // A second pull finds it up to date.
    let again = fixture.ok(&["image", "pull", &image]);
    assert_eq!(again.trim(), image);

    if common::can_run() {
        let out = fixture.ok(&["run", "--rm", "-T", "app"]);
        assert_eq!(out.trim(), "hello from the registry");
    }
}

#[test]
fn up_pulls_what_is_missing_and_says_why() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let image = format!("{}/team/app:1", registry.host());
    let fixture = fixture(
        "regup",
        &format!(
            "services:\n  app:\n    image: {image}\n  pinned:\n    image: {image}\n    pull_policy: never\n    profiles: [never]\n"
        ),
    );
    fixture.ok(&["image", "tag", "app:1", &image]);
    fixture.ok(&["image", "push", "-q", &image]);
    fixture.ok(&["image", "rm", &image]);

    let plan = fixture.ok(&["up", "--dry-run"]);
    assert!(
        plan.contains(&format!("pull {image}: not in the store")),
        "{plan}"
    );
    let error = fixture.fails(&["--profile", "never", "up", "--no-start", "pinned"]);
    assert!(error.contains("pull_policy: never"), "{error}");

    fixture.ok(&["up", "--no-start", "app"]);
    assert!(
        inspect(&fixture, &image)["RepoDigests"][0]
            .as_str()
            .unwrap()
            .contains("/team/app@sha256:")
    );
    let plan = fixture.ok(&["up", "--dry-run", "app"]);
    assert!(!plan.contains("pull "), "present now: {plan}");
    let plan = fixture.ok(&["up", "--dry-run", "--pull", "always", "app"]);
    assert!(plan.contains("pull_policy: always"), "{plan}");
}

#[test]
fn login_with_basic_auth_and_a_wrong_password() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::with_user("alice", "s3cret");
    let image = format!("{}/team/app:1", registry.host());
    let fixture = fixture("reglogin", "services: {}\n");
    fixture.ok(&["image", "tag", "app:1", &image]);

    let denied = with_env(&fixture, &["image", "push", &image], &[], "");
    assert!(!denied.status.success());
    let message = text(&denied);
    assert!(
        message.contains("needs a login") && message.contains("rcompose login"),
        "{message}"
    );

    let wrong = with_env(
        &fixture,
        &["login", &registry.host(), "-u", "alice", "--password-stdin"],
        &[],
        "wrong\n",
    );
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("wrong user name or password"),
        "{}",
        text(&wrong)
    );
    assert!(!fixture.path().join("docker/config.json").exists());

    let right = with_env(
        &fixture,
        &["login", &registry.host(), "-u", "alice", "--password-stdin"],
        &[],
        "s3cret\n",
    );
    assert!(right.status.success(), "{}", text(&right));
    assert!(String::from_utf8_lossy(&right.stdout).contains("Login Succeeded"));
    let config: Value =
        serde_json::from_slice(&std::fs::read(fixture.path().join("docker/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        config["auths"][registry.host()]["auth"],
        "YWxpY2U6czNjcmV0",
        "base64 of alice:s3cret, as docker writes it"
    );

    let pushed = with_env(&fixture, &["image", "push", &image], &[], "");
    assert!(pushed.status.success(), "{}", text(&pushed));
    fixture.ok(&["image", "rm", &image]);
    let pulled = with_env(&fixture, &["image", "pull", &image], &[], "");
    assert!(pulled.status.success(), "{}", text(&pulled));

    let out = with_env(&fixture, &["logout", &registry.host()], &[], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Removing login credentials"));
    let denied = with_env(&fixture, &["image", "pull", &image], &[], "");
    assert!(!denied.status.success());
}

#[test]
fn a_mirror_serves_docker_hub_names_unchanged() {
    if !can_run_registry() {
        return;
    }
    let mirror = Registry::start();
    let fixture = fixture("regmirror", "services:\n  cache:\n    image: redis:7\n");
    let seeded = format!("{}/library/redis:7", mirror.host());
    fixture.ok(&["image", "tag", "app:1", &seeded]);
    fixture.ok(&["image", "push", "-q", &seeded]);
    fixture.ok(&["image", "rm", &seeded]);

    let mirrors = format!("http://{}", mirror.host());
    let output = with_env(
        &fixture,
        &["pull"],
        &[("RCOMPOSE_REGISTRY_MIRRORS", &mirrors)],
        "",
    );
    assert!(output.status.success(), "{}", text(&output));
    let tags = inspect(&fixture, "redis:7")["RepoTags"].clone();
    assert!(
        tags.as_array().unwrap().contains(&"redis:7".into()),
        "{tags}"
    );

    // The same through the state root's settings file, for an image pulled by digest.
    fixture.ok(&["image", "rm", "redis:7"]);
    std::fs::write(
        fixture.root.join("registries.json"),
        format!(r#"{{"mirrors": ["{mirrors}"]}}"#),
    )
    .unwrap();
    fixture.ok(&["image", "pull", "redis:7"]);
}

#[test]
fn what_skopeo_pushes_rcompose_pulls() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let fixture = fixture("regskopeo", "services: {}\n");
    let target = format!("{}/skopeo/app:1", registry.host());
    // The store keeps uncompressed layers unpacked only (see image::split): skopeo reads a saved
    // OCI archive.
    let archive = fixture.path().join("app-oci.tar");
    fixture.ok(&[
        "image",
        "save",
        "--format",
        "oci-archive",
        "-o",
        archive.to_str().unwrap(),
        "app:1",
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci-archive:{}", archive.display()),
        &format!("docker://{target}"),
    ]);
    let seen: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]))
    .unwrap();
    let out = fixture.ok(&["image", "pull", &target]);
    assert_eq!(out.trim(), target);
    let pulled = inspect(&fixture, &target);
    assert_eq!(
        pulled["RepoDigests"][0],
        format!(
            "{}/skopeo/app@{}",
            registry.host(),
            seen["Digest"].as_str().unwrap()
        )
    );
    assert_eq!(pulled["Id"], inspect(&fixture, "app:1")["Id"]);
}

#[test]
fn bearer_tokens_from_the_challenge_with_login_and_expiry() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    // Each token is good for 3 requests: a push and a pull need several.
    let front = TokenFront::start(registry.port, Some(("bob", "hunter2")), 3);
    let image = format!("{}/team/app:1", front.host());
    let fixture = fixture("regtoken", "services: {}\n");
    fixture.ok(&["image", "tag", "app:1", &image]);

    let anonymous = with_env(&fixture, &["image", "push", &image], &[], "");
    assert!(!anonymous.status.success());
    assert!(
        text(&anonymous).contains("token server refused an anonymous token"),
        "{}",
        text(&anonymous)
    );
    let wrong = with_env(
        &fixture,
        &["login", &front.host(), "-u", "bob", "--password-stdin"],
        &[],
        "hunter3",
    );
    assert!(!wrong.status.success(), "{}", text(&wrong));
    let right = with_env(
        &fixture,
        &["login", &front.host(), "-u", "bob", "--password-stdin"],
        &[],
        "hunter2",
    );
    assert!(right.status.success(), "{}", text(&right));

    let before = front.issued.load(std::sync::atomic::Ordering::SeqCst);
    let pushed = with_env(&fixture, &["image", "push", &image], &[], "");
    assert!(pushed.status.success(), "{}", text(&pushed));
    let during = front.issued.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!(
        during >= 3,
        "tokens expired mid-push and were renewed: {during}"
    );
    fixture.ok(&["image", "rm", &image]);
    let pulled = with_env(&fixture, &["image", "pull", &image], &[], "");
    assert!(pulled.status.success(), "{}", text(&pulled));
}

#[test]
fn a_build_pulls_a_missing_base_image_and_pulls_again_with_pull() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let base = format!("{}/base/app:1", registry.host());
    let fixture = fixture("regbuild", "services:\n  api:\n    build: ./api\n");
    fixture.ok(&["image", "tag", "app:1", &base]);
    fixture.ok(&["image", "push", &base]);
    fixture.ok(&["image", "rm", "app:1"]);
    fixture.ok(&["image", "rm", &base]);
    let api = fixture.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(
        api.join("Dockerfile"),
        format!("FROM {base}\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"),
    )
    .unwrap();
    let build = with_env(&fixture, &["--progress", "plain", "build"], &[], "");
    assert!(build.status.success(), "{}", text(&build));
    assert!(
        inspect(&fixture, &base)["Id"].is_string(),
        "the base was pulled"
    );
    let run = fixture.ok(&["run", "--rm", "api"]);
    assert_eq!(run.trim(), "built");
    // With --pull the base is fetched again (up to date here), the build comes from the cache.
    let again = with_env(
        &fixture,
        &["--progress", "plain", "build", "--pull"],
        &[],
        "",
    );
    assert!(again.status.success(), "{}", text(&again));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("RUN echo built > /built CACHED"),
        "{stderr}"
    );
    assert!(stderr.contains("Pulled"), "pulled again: {stderr}");
}

#[test]
fn run_pulls_a_missing_image_and_honours_pull_never() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let image = format!("{}/team/runner:1", registry.host());
    let fixture = fixture(
        "regrun",
        &format!("services:\n  app:\n    image: {image}\n"),
    );
    fixture.ok(&["image", "tag", "app:1", &image]);
    fixture.ok(&["image", "push", &image]);
    fixture.ok(&["image", "rm", "app:1"]);
    fixture.ok(&["image", "rm", &image]);
    let refused = fixture.fails(&["run", "--rm", "-T", "--pull", "never", "app"]);
    assert!(refused.contains(&image), "{refused}");
    let out = fixture.ok(&["run", "--rm", "-T", "app"]);
    assert_eq!(out.trim(), "hello from the registry");
}

#[test]
fn a_pull_killed_mid_layer_resumes_from_the_bytes_it_had() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let fixture = Fixture::without_image("regresume", "services: {}\n");
    let archive = fixture.path().join("big.tar");
    std::fs::write(
        &archive,
        registry_fixture::archive_with_blob("big:1", "after a kill", 8 << 20),
    )
    .unwrap();
    fixture.ok(&["image", "load", "-i", archive.to_str().unwrap()]);
    let pushed = format!("{}/team/big:1", registry.host());
    fixture.ok(&["image", "tag", "big:1", &pushed]);
    fixture.ok(&["image", "push", "-q", &pushed]);
    let original = inspect(&fixture, "big:1");
    fixture.ok(&["image", "rm", "big:1"]);
    fixture.ok(&["image", "rm", &pushed]);
    fixture.ok(&["image", "prune", "-f"]);

    // About 3 MiB/s through the slow proxy: killed with -9 once 4 MiB went out.
    let slow = Proxy::start(registry.port, Some(Duration::from_millis(20)), None);
    let image = format!("{}/team/big:1", slow.host());
    let mut pull = fixture.cmd(&["image", "pull", "-q", &image]);
    let mut child = pull
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while slow.served() < 4 << 20 {
        assert!(Instant::now() < deadline, "the pull did not start");
        assert!(child.try_wait().unwrap().is_none(), "the pull ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let served_before = slow.served();
    drop(slow);

    let partial_dir = fixture.root.join("image/partial");
    let kept: u64 = std::fs::read_dir(&partial_dir)
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum();
    assert!(kept >= 2 << 20, "the bytes received are kept: {kept}");
    assert!(
        fixture
            .fails(&["image", "inspect", &image])
            .contains("no such image"),
        "no half image"
    );

    let counting = Proxy::start(registry.port, None, None);
    let image = format!("{}/team/big:1", counting.host());
    fixture.ok(&["image", "pull", "-q", &image]);
    let pulled = inspect(&fixture, &image);
    assert_eq!(pulled["RootFS"]["Layers"], original["RootFS"]["Layers"]);
    let total = layer_blob_bytes(&fixture, &pulled);
    let served_after = counting.served();
    assert!(
        served_after < total - kept + (64 << 10),
        "only the rest is fetched: {served_after} bytes served for {total} with {kept} kept"
    );
    assert!(
        served_before + served_after < total + (1 << 20) + (128 << 10),
        "less than 1 MiB fetched twice: {served_before} + {served_after} for {total}"
    );
    assert_eq!(pulled["Id"], original["Id"]);
    assert!(
        std::fs::read_dir(&partial_dir).unwrap().next().is_none(),
        "the partial downloads became the blobs"
    );
}

/// The sum of the layer blob sizes of a pulled image, from its stored manifest (its repo digest).
fn layer_blob_bytes(fixture: &Fixture, inspected: &Value) -> u64 {
    let repo_digest = inspected["RepoDigests"][0].as_str().unwrap();
    let hex = repo_digest.rsplit_once("@sha256:").unwrap().1;
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(fixture.root.join("image/blobs/sha256").join(hex)).unwrap(),
    )
    .unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["size"].as_u64().unwrap())
        .sum()
}

/// `config --resolve-image-digests` pins each image to the digest its tag points to in the
/// registry now (as docker compose writes it); `--lock-image-digests` prints the override file.
#[test]
fn config_resolves_and_locks_image_digests() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let image = format!("{}/team/app:1", registry.host());
    let fixture = fixture(
        "regdigests",
        &format!(
            "services:\n  app:\n    image: {image}\n  local:\n    image: app:1@sha256:{}\n",
            "a".repeat(64)
        ),
    );
    fixture.ok(&["image", "tag", "app:1", &image]);
    fixture.ok(&["image", "push", "-q", &image]);
    let inspected: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]))
    .unwrap();
    let digest = inspected["Digest"].as_str().unwrap().to_string();
    let pinned = format!("{image}@{digest}");
    let resolved = fixture.ok(&["config", "--resolve-image-digests"]);
    assert!(
        resolved.contains(&format!("image: {pinned}\n")),
        "{resolved}"
    );
    // An image already pinned asks no registry (written as docker compose writes it).
    assert!(
        resolved.contains(&format!(
            "image: docker.io/library/app:1@sha256:{}",
            "a".repeat(64)
        )),
        "{resolved}"
    );
    let lock = fixture.ok(&["config", "--lock-image-digests"]);
    assert!(lock.starts_with("services:\n"), "{lock}");
    assert!(
        lock.contains(&format!("  app:\n    image: {pinned}\n")),
        "{lock}"
    );
}
