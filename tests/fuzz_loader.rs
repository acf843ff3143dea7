//! A mutation fuzzer for the loader, run as a test: every compose file of the corpus is mutated many
//! times (characters that matter to YAML and to templates inserted, lines dropped, swapped and
//! duplicated) and loaded; the loader must return a project or diagnostics, never panic.
//!
//! Deterministic (a fixed-seed `fastrand` generator), so a failure reproduces; `FUZZ_ITERATIONS` raises the count.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rcompose::project::{self, LoadOptions, dotenv, interpolate::Template};

const TOKENS: &[&str] = &[
    ":",
    "-",
    " ",
    "\n",
    "  ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "#",
    "&a",
    "*a",
    "<<: *a",
    "!reset",
    "!override",
    "!!str",
    "$",
    "$$",
    "${",
    "${A",
    "${A:-",
    "${A:?x}",
    "${A:+${B}}",
    "$1",
    "~",
    "null",
    "0x",
    "0755",
    "-1",
    "99999999999999999999",
    "1.5",
    "true",
    "|",
    ">",
    "...",
    "---",
    "\u{feff}",
    "é",
    "services:",
    "x-",
    "extends: {service: a}",
    "depends_on: [a]",
    "ports: ['80:80']",
    "volumes: [':']",
    "include: [x.yaml]",
    "\\",
    "%",
    "@",
    "`",
];

fn mutate(rng: &mut fastrand::Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.usize(..4) {
        match rng.usize(..5) {
            0 if !lines.is_empty() => {
                let index = rng.usize(..lines.len());
                lines.remove(index);
            }
            1 if lines.len() > 1 => {
                let (a, b) = (rng.usize(..lines.len()), rng.usize(..lines.len()));
                lines.swap(a, b);
            }
            2 if !lines.is_empty() => {
                let index = rng.usize(..lines.len());
                let line = lines[index].clone();
                lines.insert(index, line);
            }
            _ => {
                let index = rng.usize(..lines.len() + 1);
                if index == lines.len() {
                    lines.push(String::new());
                }
                let line = &mut lines[index];
                let mut cut = rng.usize(..line.len() + 1);
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.insert_str(cut, TOKENS[rng.usize(..TOKENS.len())]);
            }
        }
    }
    lines.join("\n")
}

fn options(dir: &Path, text: String) -> LoadOptions {
    let shell: BTreeMap<String, String> = [("A", "1"), ("B", ""), ("HOME", "/home/user")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LoadOptions {
        files: vec![PathBuf::from("-")],
        project_name: Some("fuzz".to_string()),
        working_dir: dir.to_path_buf(),
        shell,
        stdin: Some(text),
        interpolate: true,
        ..LoadOptions::default()
    }
}

fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-tests");
    let mut seeds = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                seeds.push(text);
            }
        }
    }
    seeds.sort();
    seeds.push("services:\n  web:\n    image: busybox\n".to_string());
    seeds
}

#[test]
fn loader_never_panics_on_mutated_files() {
    let iterations: usize = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let dir = std::env::temp_dir();
    let seeds = seeds();
    let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
    let mut outcomes = [0usize; 2];
    for iteration in 0..iterations {
        let seed = &seeds[iteration % seeds.len()];
        let input = mutate(&mut rng, seed);
        let result = catch_unwind(AssertUnwindSafe(|| {
            project::load(options(&dir, input.clone()))
        }));
        match result {
            Ok(Ok(_)) => outcomes[0] += 1,
            Ok(Err(diagnostics)) => {
                assert!(
                    !diagnostics.0.is_empty(),
                    "an error without diagnostics for:\n{input}"
                );
                outcomes[1] += 1;
            }
            Err(_) => panic!("the loader panicked (iteration {iteration}) on:\n{input}"),
        }
    }
    eprintln!(
        "fuzzed {iterations} inputs: {} loaded, {} rejected with diagnostics",
        outcomes[0], outcomes[1]
    );
}

#[test]
fn templates_and_dotenv_never_panic() {
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..20_000 {
        let mut text = String::new();
        for _ in 0..rng.usize(..8) {
            text.push_str(TOKENS[rng.usize(..TOKENS.len())]);
            if rng.usize(..3) == 0 {
                text.push_str("AB=c");
            }
        }
        if let Ok(template) = Template::parse(&text) {
            let _ = template.render(&|name| (name == "A").then(|| "x".to_string()), &mut |_| {});
        }
        let _ = dotenv::parse(&text, &|_| None);
    }
}
