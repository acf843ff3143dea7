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

fn transcript(case: &Path) -> String {
    let args = std::fs::read_to_string(case.join("cmd"))
        .unwrap_or_else(|_| "config --format json".to_string());
    let args = shell_words::split(args.trim()).expect("cmd is shell-quoted");
    let mut command = Command::new(env!("CARGO_BIN_EXE_rcompose"));
    command
        .args(&args)
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
    let mut child = command.spawn().expect("run rcompose");
    if let Some(stdin) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&stdin)
            .expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for rcompose");
    let dir = case.canonicalize().expect("case dir").display().to_string();
    let clean = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&dir, "<DIR>");
    let code = output
        .status
        .code()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "signal".to_string());
    format!(
        "exit: {code}\n--- stdout\n{}--- stderr\n{}",
        clean(&output.stdout),
        clean(&output.stderr)
    )
}

#[test]
fn corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-tests");
    let filter = std::env::var("CASE").ok();
    let update = std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut count = 0;
    for case in cases(&root) {
        let name = case
            .strip_prefix(&root)
            .unwrap_or(&case)
            .display()
            .to_string();
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
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
