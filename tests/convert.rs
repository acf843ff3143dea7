//! `rcompose convert kubernetes` (issue #14).
//!
//! - Golden cases: every directory under `tests/convert/` is a project (`compose.yaml`, files it
//!   mounts, optional `args` with more `convert kubernetes` flags, shell-quoted) and its
//!   `expected.txt`: exit code, stdout (the objects) and stderr (the report), with the case
//!   directory written `<DIR>`. One case per mapping, one for the report, and real-world projects.
//!   `UPDATE_EXPECT=1 cargo test --test convert` rewrites them; review with `git diff`.
//! - Every valid corpus case (`compose-tests/config/`) and every golden case converts, and all the
//!   output passes `kubernetes-validate --strict` in one run. The validator is
//!   `$RCOMPOSE_TEST_KUBEVALIDATE` (then required: CI sets it) or `kubernetes-validate` on PATH;
//!   without either that test says so and skips.
//! - Determinism, `-o DIR` with its kustomization, and the schema walk: every service attribute
//!   of the Compose schema has a decision, and each mapped one is exercised by a golden case;
//!   in the corpus case that sets every attribute, each reported one a service sets is reported.
//! - Against a real registry on 127.0.0.1 (`common/registry.rs`): images pinned to the digest a
//!   pull recorded, and `--push` pushing the images of services with `build:`.
#![cfg(feature = "kubernetes")]

mod common;
#[path = "common/registry.rs"]
mod registry_fixture;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::Fixture;
use rcompose::convert::attributes::{ATTRIBUTES, Decision};
use registry_fixture::{Registry, can_run_registry, multi_layer_archive};

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/convert")
}

fn golden_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(golden_root())
        .expect("tests/convert exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// Runs rcompose in `dir` with `args`, a clean environment plus `env`, and `stdin`.
fn rcompose(dir: &Path, args: &[String], env: &[(String, String)], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rcompose"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", "/home/user")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // No image store: images are not pinned to digests a store on this machine knows.
        .env("RCOMPOSE_ROOT", "/nonexistent/rcompose-convert-tests")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run rcompose");
    if let Some(bytes) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait for rcompose")
}

fn case_args(case: &Path) -> Vec<String> {
    let mut args = vec!["convert".to_string(), "kubernetes".to_string()];
    if let Ok(extra) = std::fs::read_to_string(case.join("args")) {
        args.extend(shell_words::split(extra.trim()).expect("args is shell-quoted"));
    }
    args
}

fn transcript(case: &Path, output: &Output) -> String {
    let dir = case.canonicalize().expect("case dir").display().to_string();
    let clean = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&dir, "<DIR>");
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output
            .status
            .code()
            .map_or("signal".to_string(), |c| c.to_string()),
        clean(&output.stdout),
        clean(&output.stderr)
    )
}

/// Each golden case's transcript matches its `expected.txt`.
#[test]
fn golden_cases_match() {
    let update = std::env::var("UPDATE_EXPECT").as_deref() == Ok("1");
    let mut failures = Vec::new();
    for case in golden_cases() {
        let output = rcompose(&case, &case_args(&case), &[], None);
        let actual = transcript(&case, &output);
        let expected_path = case.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &actual).expect("write expected.txt");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "{}: differs (UPDATE_EXPECT=1 to accept)\n--- actual\n{actual}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same project, written with its keys in another order, converts to the same bytes; and
/// converting twice gives the same bytes.
#[test]
fn output_is_deterministic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let forward = "services:\n  web:\n    image: nginx\n    ports: [\"8080:80\"]\n    environment: {B: \"2\", A: \"1\"}\n    networks: [front, back]\n  db:\n    image: postgres\n    volumes: [data:/var/lib/postgresql/data]\n    networks: [back]\nnetworks:\n  front: {}\n  back: {}\nvolumes:\n  data: {}\n";
    let backward = "volumes:\n  data: {}\nnetworks:\n  back: {}\n  front: {}\nservices:\n  db:\n    networks: [back]\n    volumes: [data:/var/lib/postgresql/data]\n    image: postgres\n  web:\n    networks: [back, front]\n    environment: {A: \"1\", B: \"2\"}\n    ports: [\"8080:80\"]\n    image: nginx\n";
    let args: Vec<String> = ["-p", "same", "convert", "kubernetes"]
        .map(String::from)
        .to_vec();
    let mut outputs = Vec::new();
    for text in [forward, forward, backward] {
        std::fs::write(dir.path().join("compose.yaml"), text).expect("write compose.yaml");
        let output = rcompose(dir.path(), &args, &[], None);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.push(output.stdout);
    }
    assert!(!outputs[0].is_empty());
    assert_eq!(outputs[0], outputs[1], "two runs differ");
    assert_eq!(outputs[0], outputs[2], "key order changes the output");
}

/// `-o DIR` writes one file per object (the same documents as stdout) and a kustomization.yaml
/// that lists exactly them, with the namespace.
#[test]
fn output_directory_has_a_file_per_object_and_a_kustomization() {
    let case = golden_root().join("webapp-postgres-redis");
    let out = tempfile::tempdir().expect("tempdir");
    let mut args = case_args(&case);
    args.extend(["--namespace".to_string(), "shop".to_string()]);
    let stream = rcompose(&case, &args, &[], None);
    assert!(stream.status.success());
    let stdout = String::from_utf8(stream.stdout).expect("utf-8");
    let documents: BTreeSet<String> = stdout
        .split("---\n")
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect();
    args.extend(["-o".to_string(), out.path().display().to_string()]);
    let written = rcompose(&case, &args, &[], None);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    assert!(written.stdout.is_empty(), "with -o nothing goes to stdout");
    let mut files: BTreeSet<String> = std::fs::read_dir(out.path())
        .expect("read output dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.remove("kustomization.yaml"),
        "kustomization.yaml written"
    );
    let contents: BTreeSet<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(out.path().join(f)).expect("read file"))
        .collect();
    assert_eq!(contents, documents, "the files hold the stream's documents");
    assert!(files.contains("web-deployment.yaml"), "{files:?}");
    let kustomization =
        std::fs::read_to_string(out.path().join("kustomization.yaml")).expect("kustomization");
    assert!(
        kustomization.contains("kind: Kustomization\n"),
        "{kustomization}"
    );
    assert!(
        kustomization.contains("namespace: shop\n"),
        "{kustomization}"
    );
    let listed: BTreeSet<String> = kustomization
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(str::to_string)
        .collect();
    assert_eq!(listed, files, "the kustomization lists every file");
}

/// Every service attribute of the Compose schema has a decision, the table names nothing else,
/// and each mapped attribute is set by some golden case (so its mapping is in an expected.txt).
#[test]
fn every_schema_attribute_has_a_decision() {
    let Some(schema) = common::compose_schema() else {
        return;
    };
    let properties: BTreeSet<String> = schema
        .pointer("/$defs/service/properties")
        .or_else(|| schema.pointer("/definitions/service/properties"))
        .and_then(|p| p.as_object())
        .expect("the schema defines service properties")
        .keys()
        .cloned()
        .collect();
    let decided: BTreeSet<String> = ATTRIBUTES.iter().map(|(a, _)| a.to_string()).collect();
    let missing: Vec<&String> = properties.difference(&decided).collect();
    assert!(
        missing.is_empty(),
        "attributes without a decision: {missing:?}"
    );
    let unknown: Vec<&String> = decided.difference(&properties).collect();
    assert!(
        unknown.is_empty(),
        "decisions for attributes the schema lacks: {unknown:?}"
    );
    let composes: String = golden_cases()
        .iter()
        .filter_map(|c| std::fs::read_to_string(c.join("compose.yaml")).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let untested: Vec<&str> = ATTRIBUTES
        .iter()
        .filter(|(_, d)| matches!(d, Decision::Mapped(_)))
        .map(|(a, _)| *a)
        .filter(|a| !composes.contains(&format!(" {a}:")))
        .collect();
    assert!(
        untested.is_empty(),
        "mapped attributes no golden case sets: {untested:?}"
    );
}

/// The validator: `$RCOMPOSE_TEST_KUBEVALIDATE` (required when set), else on PATH, else none.
fn validator() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RCOMPOSE_TEST_KUBEVALIDATE") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "RCOMPOSE_TEST_KUBEVALIDATE={} is not a file",
            path.display()
        );
        return Some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("kubernetes-validate"))
        .find(|p| p.is_file())
}

/// A corpus case's global options (the words before `config` in its `cmd`) and environment.
fn corpus_invocation(case: &Path) -> (Vec<String>, Vec<(String, String)>) {
    let cmd = std::fs::read_to_string(case.join("cmd")).unwrap_or_else(|_| "config".to_string());
    let words = shell_words::split(cmd.trim()).expect("cmd is shell-quoted");
    let mut args: Vec<String> = words.into_iter().take_while(|w| w != "config").collect();
    args.extend(["convert".to_string(), "kubernetes".to_string()]);
    let env = std::fs::read_to_string(case.join("env"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            (k.to_string(), v.to_string())
        })
        .collect();
    (args, env)
}

/// Every valid corpus project and every golden case converts, and `kubernetes-validate --strict`
/// accepts all of it (one run over every file: the validator is slow to start).
#[test]
fn converted_projects_pass_kubernetes_validate() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-tests/config");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("compose-tests/config")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            std::fs::read_to_string(p.join("expected.txt"))
                .is_ok_and(|t| t.starts_with("exit: 0\n"))
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() > 100,
        "the corpus has its valid cases ({})",
        cases.len()
    );
    let out = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    let mut failures = Vec::new();
    for (index, case) in cases.iter().chain(golden_cases().iter()).enumerate() {
        let (args, env) = if case.starts_with(&corpus) {
            corpus_invocation(case)
        } else {
            (case_args(case), Vec::new())
        };
        let stdin = std::fs::read(case.join("stdin")).ok();
        // A case passes with a `config` facet or a service selection (`config --services`,
        // `config web`) that need not load the whole project; a valid project is one that
        // `config -q` loads.
        if case.starts_with(&corpus) {
            let mut check = args[..args.len() - 2].to_vec();
            check.extend(["config".to_string(), "-q".to_string()]);
            if !rcompose(case, &check, &env, stdin.as_deref())
                .status
                .success()
            {
                continue;
            }
        }
        let output = rcompose(case, &args, &env, stdin.as_deref());
        if !output.status.success() {
            failures.push(format!(
                "{}: {}",
                case.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
            continue;
        }
        if output.stdout.is_empty() {
            continue;
        }
        let file = out.path().join(format!("{index:03}.yaml"));
        std::fs::write(&file, &output.stdout).expect("write output");
        files.push((file, case.clone()));
    }
    assert!(
        failures.is_empty(),
        "cases that do not convert:\n{}",
        failures.join("\n")
    );
    let Some(validator) = validator() else {
        println!(
            "skipped: kubernetes-validate not found (set RCOMPOSE_TEST_KUBEVALIDATE; .ci/run installs it)"
        );
        return;
    };
    let result = Command::new(&validator)
        .args(["--strict", "--quiet"])
        .args(files.iter().map(|(f, _)| f))
        .output()
        .expect("run kubernetes-validate");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    let mut named = report.clone();
    for (file, case) in &files {
        named = named.replace(&file.display().to_string(), &case.display().to_string());
    }
    assert!(
        result.status.success(),
        "kubernetes-validate --strict failed:\n{named}"
    );
    assert!(
        !report.contains("ERROR"),
        "kubernetes-validate --strict:\n{named}"
    );
}

/// An image the store pulled is pinned to the digest the registry served; a built one is not,
/// until `--push` pushes it through the registry client and pins it to the pushed digest.
#[test]
fn images_are_pinned_to_registry_digests_and_pushed_with_push() {
    if !can_run_registry() {
        return;
    }
    let registry = Registry::start();
    let pulled = format!("{}/team/app:1", registry.host());
    let built = format!("{}/team/web:2", registry.host());
    let fixture = Fixture::without_image(
        "convertpush",
        &format!(
            "services:\n  app:\n    image: {pulled}\n  web:\n    build: .\n    image: {built}\n"
        ),
    );
    std::fs::write(fixture.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let archive = fixture.path().join("app.tar");
    std::fs::write(&archive, multi_layer_archive("app:1", "hello")).unwrap();
    fixture.ok(&["image", "load", "-i", archive.to_str().unwrap()]);
    fixture.ok(&["image", "tag", "app:1", &pulled]);
    fixture.ok(&["image", "push", &pulled]);
    fixture.ok(&["image", "rm", &pulled]);
    fixture.ok(&["image", "pull", &pulled]);
    // Stands for `rcompose build web`: the store has the service's image, never pushed.
    fixture.ok(&["image", "tag", "app:1", &built]);
    let image_lines = |yaml: &str| -> Vec<String> {
        yaml.lines()
            .map(|l| l.trim().trim_start_matches("- "))
            .filter(|l| l.starts_with("image: "))
            .map(str::to_string)
            .collect()
    };

    let before = image_lines(&fixture.ok(&["convert", "kubernetes"]));
    assert!(
        before
            .iter()
            .any(|l| l.starts_with(&format!("image: {pulled}@sha256:"))),
        "{before:?}"
    );
    assert!(before.contains(&format!("image: {built}")), "{before:?}");
    assert!(
        registry_digest(&built).is_none(),
        "not pushed before --push"
    );

    let after = image_lines(&fixture.ok(&["convert", "kubernetes", "--push"]));
    let pushed = registry_digest(&built).expect("--push pushed the built image");
    assert!(
        after.contains(&format!("image: {built}@{pushed}")),
        "pinned to the pushed digest {pushed}: {after:?}"
    );
}

/// The digest the registry serves `image` under (skopeo, as tests/registry.rs reads it), if any.
fn registry_digest(image: &str) -> Option<String> {
    let output = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ])
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    if !output.status.success() {
        return None;
    }
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).expect("skopeo JSON");
    inspected["Digest"].as_str().map(str::to_string)
}

/// Nothing is dropped silently: in the corpus case that sets every service attribute, each
/// attribute a service sets whose decision is "reported" is in the report, under that service.
#[test]
fn every_reported_attribute_a_service_sets_is_in_the_report() {
    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-tests/config/all-service-attributes");
    let (args, env) = corpus_invocation(&case);
    let output = rcompose(&case, &args, &env, None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut config_args = args[..args.len() - 2].to_vec();
    config_args.extend(["config", "--format", "json"].map(String::from));
    let config: serde_json::Value =
        serde_json::from_slice(&rcompose(&case, &config_args, &env, None).stdout)
            .expect("config --format json");
    let mut checked = 0;
    for (name, service) in config["services"].as_object().expect("services") {
        let block: Vec<&str> = report
            .lines()
            .skip_while(|line| *line != format!("  service {name}"))
            .skip(1)
            .take_while(|line| line.starts_with("    "))
            .collect();
        for attribute in service.as_object().expect("a service").keys() {
            if let Some(Decision::Reported(_)) = rcompose::convert::attributes::decision(attribute)
            {
                checked += 1;
                assert!(
                    block
                        .iter()
                        .any(|line| line.starts_with(&format!("    {attribute}: "))),
                    "service {name} sets {attribute}, which is not in the report:\n{report}"
                );
            }
        }
    }
    assert!(
        checked > 30,
        "the case sets the reported attributes ({checked})"
    );
}

/// `-o DIR` again: what an earlier run wrote and this one does not (a profile's services) goes,
/// the user's own files stay, and a Secret is readable by its owner alone.
#[test]
fn output_directory_follows_the_project_and_keeps_secrets_private() {
    use std::os::unix::fs::PermissionsExt;
    let project = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        project.path().join("compose.yaml"),
        "services:\n  app:\n    image: busybox\n    secrets: [token]\n  debug:\n    image: busybox\n    profiles: [debug]\nsecrets:\n  token:\n    file: ./token.txt\n",
    )
    .unwrap();
    std::fs::write(project.path().join("token.txt"), "s3cret\n").unwrap();
    let out = project.path().join("k8s");
    let convert = |profile: &[&str]| {
        let mut args: Vec<String> = profile.iter().map(|s| s.to_string()).collect();
        args.extend(["convert", "kubernetes", "-o", out.to_str().unwrap()].map(String::from));
        let output = rcompose(project.path(), &args, &[], None);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let names = || -> BTreeSet<String> {
        std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    convert(&["--profile", "debug"]);
    assert!(names().contains("debug-deployment.yaml"), "{:?}", names());
    std::fs::write(out.join("notes.md"), "mine\n").unwrap();
    convert(&[]);
    let files = names();
    assert!(!files.contains("debug-deployment.yaml"), "{files:?}");
    assert!(
        files.contains("app-deployment.yaml") && files.contains("notes.md"),
        "{files:?}"
    );
    let secret = files
        .iter()
        .find(|name| name.ends_with("-secret.yaml"))
        .expect("a Secret file");
    let mode = std::fs::metadata(out.join(secret))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{secret}");
}
