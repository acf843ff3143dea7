//! The conformance corpus: every directory under `compose-tests/config/` and `compose-tests/errors/`
//! is one case (its own subdirectories are part of the case).
//!
//! A case is a small project (compose files, `.env`, ...) plus:
//! - `cmd` (optional): the arguments, shell-quoted, default `config --format json`;
//! - `env` (optional): `KEY=VALUE` lines, the only environment the command sees (with `HOME=/home/user`
//!   and `PATH`);
//! - `stdin` (optional): fed to standard input;
//! - `expected.txt`: the transcript (exit code, stdout, stderr) with the case directory written `<DIR>`.
//!
//! `UPDATE_EXPECT=1 cargo test --test corpus` rewrites the transcripts; review them with `git diff`.
//! `CASE=name` runs only the cases whose path contains `name`.
//!
//! `conformance_with_v2` compares the printed project with docker compose v2's (`v2.yaml`, `v2.json`,
//! written by `compose-tests/regen-v2.sh`), see its documentation.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for group in ["config", "errors"] {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        found.extend(
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.is_dir()),
        );
    }
    found.sort();
    found
}

/// The cases with their names (`config/basic`), only those whose name contains `filter` if given.
fn selected_cases(root: &Path, filter: Option<&str>) -> Vec<(PathBuf, String)> {
    cases(root)
        .into_iter()
        .map(|case| {
            let name = case
                .strip_prefix(root)
                .unwrap_or(&case)
                .display()
                .to_string();
            (case, name)
        })
        .filter(|(_, name)| filter.is_none_or(|f| name.contains(f)))
        .collect()
}

/// The case's arguments (`cmd`, default `config --format json`).
fn case_args(case: &Path) -> Vec<String> {
    let args = std::fs::read_to_string(case.join("cmd"))
        .unwrap_or_else(|_| "config --format json".to_string());
    shell_words::split(args.trim()).expect("cmd is shell-quoted")
}

struct Output {
    code: String,
    stdout: String,
    stderr: String,
}

/// Runs `program` with `args` as a case runs: in the case directory, with only its environment and
/// standard input; the case directory is written `<DIR>` in the output.
fn run_case(program: &Path, case: &Path, args: &[String]) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(case)
        .env_clear()
        .env("HOME", "/home/user")
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    if let Ok(env) = std::fs::read_to_string(case.join("env")) {
        for line in env.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.split_once('=').expect("env lines are KEY=VALUE");
            command.env(key, value);
        }
    }
    let stdin = std::fs::read(case.join("stdin")).ok();
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()));
    if let Some(stdin) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&stdin)
            .expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for the command");
    let dir = case.canonicalize().expect("case dir").display().to_string();
    let clean = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&dir, "<DIR>");
    let code = output
        .status
        .code()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "signal".to_string());
    Output {
        code,
        stdout: clean(&output.stdout),
        stderr: clean(&output.stderr),
    }
}

fn rcompose() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rcompose"))
}

fn transcript(case: &Path) -> String {
    let output = run_case(&rcompose(), case, &case_args(case));
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.code, output.stdout, output.stderr
    )
}

#[test]
fn corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-tests");
    let filter = std::env::var("CASE").ok();
    let update = std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut count = 0;
    for (case, name) in selected_cases(&root, filter.as_deref()) {
        count += 1;
        let actual = transcript(&case);
        let expected_path = case.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &actual).expect("write expected.txt");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual.contains("panicked at") {
            failures.push(format!("{name}: rcompose panicked\n{actual}"));
        } else if actual != expected {
            failures.push(format!(
                "{name}: transcript differs\n--- expected\n{expected}\n--- actual\n{actual}"
            ));
        }
    }
    assert!(
        count > 0 || filter.is_some(),
        "no cases found under {}",
        root.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} corpus cases failed (UPDATE_EXPECT=1 rewrites them):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// docker compose v2 as the oracle. Every valid case whose command prints the project has `v2.yaml`
/// and `v2.json`: what docker compose v2.40.3 prints for it (with `--format yaml` / `--format json`),
/// written by `compose-tests/regen-v2.sh`. Ours must equal them byte for byte, except where
/// `compose-tests/v2-allowlist.txt` names the difference and its reason; an allowlisted difference
/// that is gone fails too, so the list stays true.
///
/// With `RCOMPOSE_COMPOSE_V2` set to the v2 binary (CI sets it), v2 also runs: its output must still
/// equal the committed files, and it must accept every `config/` case and reject every `errors/`
/// case (unless allowlisted). `UPDATE_V2=1` rewrites the files from it.
#[test]
fn conformance_with_v2() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-tests");
    let filter = std::env::var("CASE").ok();
    let v2 = std::env::var_os("RCOMPOSE_COMPOSE_V2").map(PathBuf::from);
    let update = std::env::var("UPDATE_V2").is_ok_and(|v| v == "1");
    assert!(
        !update || v2.is_some(),
        "UPDATE_V2=1 needs RCOMPOSE_COMPOSE_V2 (the docker compose v2 binary)"
    );
    let allowlist = Allowlist::read(&root.join("v2-allowlist.txt"));
    let mut used = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    let mut stale = Vec::new();
    let mut figures = Figures::default();
    for (case, name) in selected_cases(&root, filter.as_deref()) {
        let mut check = |kind: &str, differs: bool, what: String| {
            let entry = allowlist.entry(&name, kind);
            let allowed = entry.is_some();
            if let Some(entry) = entry
                && differs
            {
                used.insert((entry, kind.to_string()));
            }
            match (differs, allowed) {
                (true, false) => failures.push(format!("{name}: {what}")),
                (false, true) if allowlist.contains(&name, kind) => failures.push(format!(
                    "{name}: allowlisted `{kind}` difference is gone: remove it from v2-allowlist.txt"
                )),
                _ => {}
            }
        };
        if let Some(v2) = &v2
            && !allowlist.contains(&name, "skip-v2")
        {
            let accepted = run_case(v2, &case, &without_output_file(&case_args(&case))).code == "0";
            let valid = name.starts_with("config/");
            check(
                "acceptance",
                accepted != valid,
                format!(
                    "docker compose v2 {} this case",
                    if accepted { "accepts" } else { "rejects" }
                ),
            );
        }
        let Some(args) = model_args(&case_args(&case)) else {
            continue;
        };
        if !name.starts_with("config/") {
            continue;
        }
        for format in ["yaml", "json"] {
            let mut args = args.clone();
            args.extend(["--format".to_string(), format.to_string()]);
            let expected_path = case.join(format!("v2.{format}"));
            if let Some(v2) = &v2
                && !allowlist.contains(&name, "skip-v2")
            {
                let output = run_case(v2, &case, &args);
                let live = (output.code == "0").then_some(output.stdout);
                if update {
                    match &live {
                        Some(text) => std::fs::write(&expected_path, text).expect("write v2 file"),
                        None => {
                            let _ = std::fs::remove_file(&expected_path);
                        }
                    }
                } else if live != std::fs::read_to_string(&expected_path).ok() {
                    stale.push(format!(
                        "{name}: v2.{format} is not what docker compose v2 prints now: run compose-tests/regen-v2.sh"
                    ));
                }
            }
            let Ok(expected) = std::fs::read_to_string(&expected_path) else {
                continue;
            };
            let ours = run_case(&rcompose(), &case, &args);
            let same_bytes = ours.stdout == expected;
            let mut theirs = parsed(&expected);
            if format == "json" {
                theirs.as_mut().map(without_v2_json_quirks);
            }
            let same_model = same_bytes || parsed(&ours.stdout) == theirs;
            figures.count(format, same_bytes, same_model);
            check(
                &format!("{format}-model"),
                !same_model,
                format!(
                    "our {format} model differs from docker compose v2's\n--- v2\n{expected}--- ours\n{}{}",
                    ours.stdout, ours.stderr
                ),
            );
            if same_model {
                check(
                    format,
                    !same_bytes,
                    format!(
                        "our {format} differs from docker compose v2's in its bytes only\n--- v2\n{expected}--- ours\n{}",
                        ours.stdout
                    ),
                );
            }
        }
    }
    failures.append(&mut stale);
    if filter.is_none() {
        for (name, kind) in allowlist.entries() {
            if !used.contains(&(name.clone(), kind.clone())) && kind != "skip-v2" {
                let ran_v2 = v2.is_some() || kind != "acceptance";
                if ran_v2 {
                    failures.push(format!(
                        "v2-allowlist.txt: `{name} {kind}` matches no difference: remove it"
                    ));
                }
            }
        }
    }
    eprintln!("{}", figures.summary(allowlist.len()));
    assert!(
        failures.is_empty(),
        "{} conformance problems ({}):\n\n{}",
        failures.len(),
        figures.summary(allowlist.len()),
        failures.join("\n\n")
    );
}

/// The arguments that print the project for a case's command, without `--format`; `None` for
/// commands that print something else (`--services`, `--hash`, `-q`, ...).
fn model_args(args: &[String]) -> Option<Vec<String>> {
    let position = args.iter().position(|a| a == "config")?;
    let mut out = Vec::new();
    let mut rest = args.iter().enumerate();
    while let Some((index, arg)) = rest.next() {
        if index > position {
            match arg.as_str() {
                "--format" => {
                    rest.next();
                    continue;
                }
                "--services" | "--volumes" | "--networks" | "--profiles" | "--images"
                | "--hash" | "--variables" | "--environment" | "-q" | "--quiet" | "-o"
                | "--output" => return None,
                _ => {}
            }
        }
        out.push(arg.clone());
    }
    Some(out)
}

/// The arguments without `-o FILE` (v2 must not write into the case).
fn without_output_file(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "-o" || arg == "--output" {
            rest.next();
            continue;
        }
        out.push(arg.clone());
    }
    out
}

/// v2's JSON differs from its own YAML (the same model) where its JSON encoder does not omit empty
/// values: `"command": null` and `"entrypoint": null` on every service, `"ipam": {}` on every network,
/// empty `deploy.placement` and `deploy.resources`, and `"exec": {"command": null}` on watch rules. Those are removed before comparing models.
fn without_v2_json_quirks(project: &mut serde_json::Value) {
    use serde_json::Value;
    let empty = |value: Option<&Value>| {
        value.is_some_and(|v| v.is_null() || v.as_object().is_some_and(|m| m.is_empty()))
    };
    if let Some(services) = project.get_mut("services").and_then(Value::as_object_mut) {
        for service in services.values_mut().filter_map(Value::as_object_mut) {
            for key in ["command", "entrypoint"] {
                if service.get(key).is_some_and(Value::is_null) {
                    service.shift_remove(key);
                }
            }
            let rules = service
                .get_mut("develop")
                .and_then(|d| d.get_mut("watch"))
                .and_then(Value::as_array_mut);
            for rule in rules.into_iter().flatten().filter_map(Value::as_object_mut) {
                if rule.get("exec") == Some(&serde_json::json!({"command": null})) {
                    rule.shift_remove("exec");
                }
            }
            if let Some(deploy) = service.get_mut("deploy").and_then(Value::as_object_mut) {
                for key in ["placement", "resources"] {
                    if empty(deploy.get(key)) {
                        deploy.shift_remove(key);
                    }
                }
            }
        }
    }
    if let Some(networks) = project.get_mut("networks").and_then(Value::as_object_mut) {
        for network in networks.values_mut().filter_map(Value::as_object_mut) {
            if empty(network.get("ipam")) {
                network.shift_remove("ipam");
            }
        }
    }
}

/// A YAML or JSON document as a value (JSON is YAML), for comparing models after parsing.
fn parsed(text: &str) -> Option<serde_json::Value> {
    let source = rcompose::project::diag::Source::new("-", text.to_string());
    let node = rcompose::project::yaml::parse(&source).ok()?;
    Some(rcompose::project::typed::to_json(&node))
}

/// `compose-tests/v2-allowlist.txt`: `CASE KIND REASON` lines (`#` comments; CASE `*` is every case).
/// Kinds: `yaml`/`json` (bytes differ, the model is the same), `yaml-model`/`json-model` (the model
/// differs), `acceptance` (v2 accepts what we reject or the reverse), `skip-v2` (v2 is not run on the
/// case).
struct Allowlist(Vec<(String, String)>);

impl Allowlist {
    fn read(path: &Path) -> Allowlist {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.splitn(3, ' ');
            let (Some(case), Some(kind), Some(reason)) = (parts.next(), parts.next(), parts.next())
            else {
                panic!("v2-allowlist.txt:{}: write CASE KIND REASON", index + 1);
            };
            assert!(
                [
                    "yaml",
                    "json",
                    "yaml-model",
                    "json-model",
                    "acceptance",
                    "skip-v2"
                ]
                .contains(&kind),
                "v2-allowlist.txt:{}: unknown kind {kind:?}",
                index + 1
            );
            assert!(
                !reason.trim().is_empty(),
                "v2-allowlist.txt:{}: every entry gives its reason",
                index + 1
            );
            entries.push((case.to_string(), kind.to_string()));
        }
        Allowlist(entries)
    }

    /// Whether the case itself is listed for `kind`.
    fn contains(&self, case: &str, kind: &str) -> bool {
        self.0.iter().any(|(c, k)| c == case && k == kind)
    }

    /// The entry that allows `kind` for the case: its own, or a `*` entry (a difference of every
    /// case, such as v2's JSON layout).
    fn entry(&self, case: &str, kind: &str) -> Option<String> {
        if self.contains(case, kind) {
            return Some(case.to_string());
        }
        self.contains("*", kind).then(|| "*".to_string())
    }

    fn entries(&self) -> &[(String, String)] {
        &self.0
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// How many outputs equal v2's, byte for byte and after parsing.
#[derive(Default)]
struct Figures {
    yaml: [usize; 3],
    json: [usize; 3],
}

impl Figures {
    fn count(&mut self, format: &str, same_bytes: bool, same_model: bool) {
        let slot = if format == "yaml" {
            &mut self.yaml
        } else {
            &mut self.json
        };
        slot[0] += 1;
        slot[1] += usize::from(same_bytes);
        slot[2] += usize::from(same_model);
    }

    fn summary(&self, allowlisted: usize) -> String {
        format!(
            "v2 conformance: YAML {} of {} byte-identical, {} equal after parsing; JSON {} of {} byte-identical, {} equal after parsing; {allowlisted} allowlist entries",
            self.yaml[1], self.yaml[0], self.yaml[2], self.json[1], self.json[0], self.json[2]
        )
    }
}
