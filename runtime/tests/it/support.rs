//! Helpers shared by the integration tests: skip-or-fail guards, archive builders, a busybox rootfs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use runtime::image::{Digest, ImageStore};

/// True if the test must stop here because it is not root; fails instead under `RCOMPOSE_TEST_ROOT=1`.
pub fn skip_unless_root() -> bool {
    if runtime::sys::is_root() {
        return false;
    }
    assert!(
        std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
        "this test needs root (RCOMPOSE_TEST_ROOT=1 is set)"
    );
    eprintln!("skipped: needs root");
    true
}

/// True if the test must stop because `tool` is missing; fails instead under `RCOMPOSE_TEST_ROOT=1`
/// (CI installs the tools).
pub fn skip_without(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        return false;
    }
    assert!(
        std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
        "{tool} is not installed (RCOMPOSE_TEST_ROOT=1 is set)"
    );
    eprintln!("skipped: {tool} is not installed");
    true
}

/// Runs a command and returns its stdout, failing the test with its stderr.
pub fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A fresh store in a temporary directory.
pub fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    (dir, store)
}

/// A small root filesystem: busybox (from busybox-static when installed) plus a few files.
pub fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for sub in ["bin", "etc", "tmp", "var/empty"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(root.join("etc/hostname"), "rootfs\n").unwrap();
    if Path::new("/bin/busybox").exists() {
        fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for applet in ["sh", "ls", "cat", "echo"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    } else {
        fs::write(root.join("bin/busybox"), vec![0x7f; 100_000]).unwrap();
    }
    root
}

/// A tar of a directory's contents (symlinks kept as symlinks).
pub fn tar_dir(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir).unwrap();
    builder.into_inner().unwrap()
}

/// Appends an entry with its names written raw (so hostile names survive the tar crate's checks),
/// using GNU long-name records for names of 100 bytes or more.
pub fn append_raw(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: tar::EntryType,
    link: &str,
    data: &[u8],
) {
    for (long, long_kind) in [
        (link, tar::EntryType::GNULongLink),
        (path, tar::EntryType::GNULongName),
    ] {
        if long.len() >= 100 {
            let mut name = long.as_bytes().to_vec();
            name.push(0);
            let header = raw_header("././@LongLink", long_kind, "", name.len() as u64);
            builder.append(&header, &name[..]).unwrap();
        }
    }
    let short = |name: &str| {
        if name.len() >= 100 {
            name[..99].to_owned()
        } else {
            name.to_owned()
        }
    };
    let header = raw_header(&short(path), kind, &short(link), data.len() as u64);
    builder.append(&header, data).unwrap();
}

/// A tar header with the name written raw (names under 100 bytes).
pub fn raw_header(path: &str, kind: tar::EntryType, link: &str, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_size(size);
    header.set_entry_type(kind);
    header.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_600_000_000);
    header.set_cksum();
    header
}

/// Appends a file to a tar being built.
pub fn append(builder: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, data).unwrap();
}

/// A docker-archive holding one image with these (uncompressed) layers and a config whose diff ids are
/// `diff_ids` (their real digests when `None`).
pub fn docker_archive(layers: &[Vec<u8>], tag: &str, diff_ids: Option<Vec<Digest>>) -> Vec<u8> {
    let diff_ids =
        diff_ids.unwrap_or_else(|| layers.iter().map(|layer| Digest::of(layer)).collect());
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(ToString::to_string).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", Digest::of(&config).hex());
    let layer_names: Vec<String> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| format!("layer{i}/layer.tar"))
        .collect();
    let manifest =
        serde_json::json!([{ "Config": config_name, "RepoTags": [tag], "Layers": layer_names }]);
    let mut builder = tar::Builder::new(Vec::new());
    append(&mut builder, &config_name, &config);
    for (name, layer) in layer_names.iter().zip(layers) {
        append(&mut builder, name, layer);
    }
    append(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    builder.into_inner().unwrap()
}

/// Files and directories under `dir`, relative, sorted (to compare trees before and after).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(base, &path, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Number of entries in a directory of the store.
pub fn count(store: &ImageStore, sub: &str) -> usize {
    fs::read_dir(store.root().join(sub))
        .map(|entries| entries.count())
        .unwrap_or(0)
}
