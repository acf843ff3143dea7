//! `rcompose image ...` end to end: the binary against a temporary `--root`, checking docker's output
//! shapes and the error messages.

use std::path::Path;
use std::process::{Command, Output};

fn rcompose(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rcompose"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn ok(root: &Path, args: &[&str]) -> String {
    let output = rcompose(root, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn fails(root: &Path, args: &[&str]) -> String {
    let output = rcompose(root, args);
    assert!(!output.status.success(), "{args:?} should fail");
    String::from_utf8(output.stderr).unwrap()
}

/// A minimal ustar archive of regular files (no tar crate in this package).
fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        for (offset, value) in [
            (100, 0o644u64),
            (108, 0),
            (116, 0),
            (124, data.len() as u64),
            (136, 1_600_000_000),
        ] {
            let width = if offset >= 124 { 12 } else { 8 };
            let text = format!("{value:0w$o}", w = width - 1);
            header[offset..offset + width - 1].copy_from_slice(text.as_bytes());
        }
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

#[test]
fn image_commands_speak_docker() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let rootfs = dir.path().join("rootfs.tar");
    std::fs::write(
        &rootfs,
        tarball(&[("etc/hostname", b"demo\n"), ("bin/tool", b"#!/bin/sh\n")]),
    )
    .unwrap();
    let rootfs = rootfs.to_str().unwrap();

    let id = ok(
        &root,
        &[
            "image",
            "import",
            rootfs,
            "demo:1",
            "-c",
            "CMD [\"sh\"]",
            "--change",
            "ENV A=1",
        ],
    );
    let id = id.trim().to_owned();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let short = &id[7..19];

    let table = ok(&root, &["image", "ls"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[0].starts_with("REPOSITORY   TAG   IMAGE ID       CREATED"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(&format!("demo         1     {short}   ")),
        "{table}"
    );

    let json: serde_json::Value =
        serde_json::from_str(ok(&root, &["image", "ls", "--format", "json"]).trim()).unwrap();
    assert_eq!(
        (
            json["Repository"].as_str(),
            json["Tag"].as_str(),
            json["ID"].as_str()
        ),
        (Some("demo"), Some("1"), Some(short))
    );

    let inspect: serde_json::Value =
        serde_json::from_str(&ok(&root, &["image", "inspect", "demo:1"])).unwrap();
    let image = &inspect[0];
    assert_eq!(image["Id"], id.as_str());
    assert_eq!(image["RepoTags"], serde_json::json!(["demo:1"]));
    assert_eq!(image["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(image["Config"]["Env"], serde_json::json!(["A=1"]));
    assert_eq!(image["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(image["Os"], "linux");

    ok(&root, &["image", "tag", "demo:1", "other/demo:2"]);
    assert_eq!(ok(&root, &["image", "ls", "-q"]), format!("{short}\n"));
    assert_eq!(ok(&root, &["image", "ls", "other/*"]).lines().count(), 2);
    assert!(ok(&root, &["image", "history", "demo:1"]).starts_with("IMAGE          CREATED"));

    let archive = dir.path().join("out.tar");
    ok(
        &root,
        &["image", "save", "-o", archive.to_str().unwrap(), "demo:1"],
    );
    let removed = ok(&root, &["image", "rm", "demo:1", "other/demo:2"]);
    assert_eq!(
        removed,
        format!("Untagged: demo:1\nUntagged: other/demo:2\nDeleted: {id}\n")
    );
    assert_eq!(ok(&root, &["image", "ls"]).lines().count(), 1);
    assert_eq!(
        ok(&root, &["image", "load", "-i", archive.to_str().unwrap()]),
        "Loaded image: demo:1\n"
    );
    assert_eq!(
        ok(&root, &["image", "ls", "-q", "--no-trunc"]),
        format!("{id}\n")
    );
    assert_eq!(
        ok(&root, &["image", "prune"]),
        "Total reclaimed space: 0B\n"
    );

    let error = fails(&root, &["image", "inspect", "nope"]);
    assert!(error.contains("no such image: nope"), "{error}");
    let error = fails(&root, &["image", "load", "-i", rootfs]);
    assert!(error.contains("use `image import`"), "{error}");
    let error = fails(&root, &["image", "import", rootfs, "Bad:Name"]);
    assert!(error.contains("must be lowercase"), "{error}");
    let error = fails(&root, &["image", "import", "/nonexistent.tar", "x"]);
    assert!(error.contains("cannot open /nonexistent.tar"), "{error}");
    let error = fails(&root, &["image", "import", rootfs, "x", "-c", "EXPOSE 80"]);
    assert!(error.contains("EXPOSE is not supported"), "{error}");
    let error = fails(&root, &["image", "rm", "missing"]);
    assert!(error.contains("no such image: missing"), "{error}");
}
