//! A real registry for the registry tests: Debian's `docker-registry` (distribution 2.x) on
//! 127.0.0.1 with a free port and a temporary storage directory, optionally behind htpasswd basic
//! auth; stopped by its pid and removed on drop. And a multi-layer test image as a docker-archive,
//! made offline from busybox-static.
//!
//! Shared by `tests/registry.rs` (the CLI) and `runtime/tests/registry.rs` (the client), which
//! includes it by path.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// Whether the registry tests can run: they need `docker-registry` (and busybox for the image);
/// a skip fails under `RCOMPOSE_TEST_ROOT=1` (CI).
pub fn can_run_registry() -> bool {
    let missing: Vec<&str> = [REGISTRY_BIN, "/bin/busybox"]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why =
        format!("skipped: needs {missing:?} (apt-get install docker-registry busybox-static)");
    assert!(
        std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
        "{why}, and RCOMPOSE_TEST_ROOT=1 forbids skipping"
    );
    eprintln!("{why}");
    false
}

/// A running registry.
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Registry {
    /// Starts a registry without authentication.
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// Starts a registry that wants `user`/`password` (htpasswd, bcrypt).
    pub fn with_user(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(user: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let mut last_error = String::new();
        // A port found free can be taken before the registry binds it: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            );
            if let Some((user, password)) = user {
                let hash = bcrypt::hash(password, 5).unwrap();
                std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let mut child = child;
            if wait_ready(&mut child, port) {
                return Registry { dir, port, child };
            }
            last_error =
                std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start: {last_error}");
    }

    /// The status of a plain GET, or `None` if nothing answers.
    pub fn get_status(&self, path: &str) -> Option<u16> {
        get_status(self.port, path)
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where the registry keeps a blob on disk.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Some(status) = get_status(port, "/v2/") {
            return status == 200 || status == 401;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn tar_of(entries: &[(&str, TarEntry)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        match entry {
            TarEntry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            TarEntry::File(bytes, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, &bytes[..]).unwrap();
            }
            TarEntry::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

enum TarEntry {
    Dir,
    File(Vec<u8>, u32),
    Symlink(String),
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex_string(&sha2::Sha256::digest(bytes)))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A docker-archive of a three-layer image named `name`: busybox (uncompressed), then two gzip
/// layers (`/srv/greeting` and a 3 MiB `/srv/blob`, so downloads span many reads). Its command
/// prints the greeting.
pub fn multi_layer_archive(name: &str, greeting: &str) -> Vec<u8> {
    let mut base: Vec<(String, TarEntry)> = vec![
        ("bin".to_owned(), TarEntry::Dir),
        ("etc".to_owned(), TarEntry::Dir),
        ("tmp".to_owned(), TarEntry::Dir),
        (
            "bin/busybox".to_owned(),
            TarEntry::File(std::fs::read("/bin/busybox").unwrap(), 0o755),
        ),
        (
            "etc/passwd".to_owned(),
            TarEntry::File(b"root:x:0:0:root:/root:/bin/sh\n".to_vec(), 0o644),
        ),
        (
            "etc/group".to_owned(),
            TarEntry::File(b"root:x:0:\n".to_vec(), 0o644),
        ),
    ];
    for applet in ["sh", "cat", "echo", "ls", "sha256sum", "wc"] {
        base.push((
            format!("bin/{applet}"),
            TarEntry::Symlink("busybox".to_owned()),
        ));
    }
    let base: Vec<(&str, TarEntry)> = base.iter().map(|(p, e)| (p.as_str(), clone(e))).collect();
    let layer1 = tar_of(&base);
    let layer2 = tar_of(&[
        ("srv", TarEntry::Dir),
        (
            "srv/greeting",
            TarEntry::File(format!("{greeting}\n").into_bytes(), 0o644),
        ),
    ]);
    let mut blob = Vec::with_capacity(3 << 20);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    while blob.len() < 3 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        blob.extend_from_slice(&state.to_le_bytes());
    }
    let layer3 = tar_of(&[
        ("srv", TarEntry::Dir),
        ("srv/blob", TarEntry::File(blob, 0o644)),
    ]);
    let diff_ids = [sha256(&layer1), sha256(&layer2), sha256(&layer3)];
    let blobs = [layer1.clone(), gzip(&layer2), gzip(&layer3)];
    let config = serde_json::json!({
        "architecture": host_arch(),
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["cat", "/srv/greeting"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "base"}, {"created_by": "greeting"}, {"created_by": "blob"}],
    });
    let config = serde_json::to_vec(&config).unwrap();
    let names: Vec<String> = (0..3).map(|n| format!("layer{n}.tar")).collect();
    let manifest = serde_json::json!([{
        "Config": "config.json",
        "RepoTags": [name],
        "Layers": names,
    }]);
    let mut entries: Vec<(&str, TarEntry)> = vec![
        (
            "manifest.json",
            TarEntry::File(serde_json::to_vec(&manifest).unwrap(), 0o644),
        ),
        ("config.json", TarEntry::File(config, 0o644)),
    ];
    for (name, blob) in names.iter().zip(blobs) {
        entries.push((name.as_str(), TarEntry::File(blob, 0o644)));
    }
    tar_of(&entries)
}

fn clone(entry: &TarEntry) -> TarEntry {
    match entry {
        TarEntry::Dir => TarEntry::Dir,
        TarEntry::File(bytes, mode) => TarEntry::File(bytes.clone(), *mode),
        TarEntry::Symlink(target) => TarEntry::Symlink(target.clone()),
    }
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
