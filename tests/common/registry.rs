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
        Registry::start_with(None, false)
    }

    /// Starts a registry that wants `user`/`password` (htpasswd, bcrypt).
    pub fn with_user(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password)), false)
    }

    /// Starts a registry without authentication that logs every request (see [`Registry::requests`]).
    pub fn with_access_log() -> Registry {
        Registry::start_with(None, true)
    }

    fn start_with(user: Option<(&str, &str)>, access_log: bool) -> Registry {
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
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: {}\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                !access_log,
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

    /// The requests the access log holds (`with_access_log`), as `METHOD /path`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| {
                // Combined log format: `... "PATCH /v2/... HTTP/1.1" 202 ...`.
                let request = line.split('"').nth(1)?;
                let mut parts = request.split_whitespace();
                Some(format!("{} {}", parts.next()?, parts.next()?))
            })
            .collect()
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
    archive_with_blob(name, greeting, 3 << 20)
}

/// [`multi_layer_archive`] with a `/srv/blob` of `blob_size` pseudo-random bytes (which gzip
/// cannot shrink: its layer is about that big).
pub fn archive_with_blob(name: &str, greeting: &str, blob_size: usize) -> Vec<u8> {
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
    let mut blob = Vec::with_capacity(blob_size);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    while blob.len() < blob_size {
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

/// A TCP proxy of the test's own in front of a [`Registry`]: it counts the bytes the registry
/// sends through it (`served`), can slow them down (`throttle`: a pause per 64 KiB), and can die:
/// once `die_after` bytes went out it closes every connection and refuses new ones, as a registry
/// that crashed mid-layer. With [`Proxy::cutting_upload`], it breaks one connection instead, once:
/// the one carrying the byte past that many from the clients (an upload broken mid-chunk).
pub struct Proxy {
    pub port: u16,
    pub served: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16, throttle: Option<Duration>, die_after: Option<u64>) -> Proxy {
        Proxy::with_faults(upstream, throttle, die_after, None, false)
    }

    /// A proxy that hides `Range` headers from the registry (renamed to `Xrang`, the same
    /// length), as a registry that ignores ranges and always sends whole blobs.
    pub fn ignoring_ranges(upstream: u16) -> Proxy {
        Proxy::with_faults(upstream, None, None, None, true)
    }

    /// A proxy that cuts the connection that carries the client's byte number `after` + 1 (all
    /// connections counted together) to the registry, and forwards everything else.
    pub fn cutting_upload(upstream: u16, after: u64) -> Proxy {
        Proxy::with_faults(upstream, None, None, Some(after), false)
    }

    fn with_faults(
        upstream: u16,
        throttle: Option<Duration>,
        die_after: Option<u64>,
        cut_upload_after: Option<u64>,
        hide_ranges: bool,
    ) -> Proxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let cut_done = Arc::new(AtomicBool::new(false));
        let sent_total = Arc::new(AtomicU64::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (served2, stop2) = (served.clone(), stop.clone());
        std::thread::spawn(move || {
            // Dropping the listener when the proxy stops or dies refuses new connections.
            while !stop2.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                client.set_nonblocking(false).unwrap();
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (mut client_in, mut upstream_out) =
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (cut_done, sent_total) = (cut_done.clone(), sent_total.clone());
                std::thread::spawn(move || {
                    let mut buffer = vec![0u8; 64 << 10];
                    loop {
                        let n = match client_in.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let sent = sent_total.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                        if let Some(after) = cut_upload_after
                            && sent > after
                            && !cut_done.swap(true, Ordering::SeqCst)
                        {
                            let _ = client_in.shutdown(std::net::Shutdown::Both);
                            let _ = upstream_out.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        if hide_ranges {
                            for at in 0..n.saturating_sub(8) {
                                if buffer[at..at + 8].eq_ignore_ascii_case(b"\r\nrange:") {
                                    buffer[at + 2..at + 7].copy_from_slice(b"Xrang");
                                }
                            }
                        }
                        if upstream_out.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = upstream_out.shutdown(std::net::Shutdown::Write);
                });
                let (served, stop) = (served2.clone(), stop2.clone());
                std::thread::spawn(move || {
                    let (mut upstream, mut client) = (upstream, client);
                    let mut buffer = vec![0u8; 64 << 10];
                    loop {
                        let n = match upstream.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let mut n = n;
                        if let Some(limit) = die_after {
                            let before = served.load(Ordering::SeqCst);
                            if before + n as u64 >= limit {
                                n = limit.saturating_sub(before) as usize;
                                stop.store(true, Ordering::SeqCst);
                            }
                        }
                        if stop.load(Ordering::SeqCst) && die_after.is_some() && n == 0 {
                            break;
                        }
                        if client.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                        served.fetch_add(n as u64, Ordering::SeqCst);
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Some(pause) = throttle {
                            std::thread::sleep(pause);
                        }
                    }
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    let _ = upstream.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy { port, served, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Bytes the registry sent through the proxy so far.
    pub fn served(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A token server and bearer-auth front for a [`Registry`], as Docker Hub's flow works: a request
/// without a valid `Bearer` token gets a 401 with a `WWW-Authenticate: Bearer realm=…/token,…`
/// challenge; `GET /token` hands out tokens (to `user`/`password` by basic auth, if set, else to
/// anyone), each good for `uses` requests, so a long push sees its token expire. Everything else is
/// forwarded to the registry, one request per connection.
pub struct TokenFront {
    pub port: u16,
    /// Tokens handed out so far.
    pub issued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TokenFront {
    pub fn start(upstream: u16, user: Option<(&str, &str)>, uses: usize) -> TokenFront {
        use std::collections::HashMap;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let issued = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tokens: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let basic = user.map(|(user, password)| {
            format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
        });
        let (issued2, stop2) = (issued.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let (tokens, issued, basic) = (tokens.clone(), issued2.clone(), basic.clone());
                std::thread::spawn(move || {
                    let _ = serve(
                        stream,
                        upstream,
                        port,
                        &tokens,
                        &issued,
                        basic.as_deref(),
                        uses,
                    );
                });
            }
        });
        TokenFront { port, issued, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TokenFront {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn read_line(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        stream.read_exact(&mut byte)?;
        line.push(byte[0]);
    }
    Ok(line)
}

fn serve(
    mut stream: TcpStream,
    upstream: u16,
    port: u16,
    tokens: &std::sync::Mutex<std::collections::HashMap<String, usize>>,
    issued: &std::sync::atomic::AtomicUsize,
    basic: Option<&str>,
    uses: usize,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    let request_line = String::from_utf8_lossy(&read_line(&mut stream)?).into_owned();
    let mut headers = Vec::new();
    loop {
        let line = String::from_utf8_lossy(&read_line(&mut stream)?).into_owned();
        if line == "\r\n" {
            break;
        }
        let (name, value) = line
            .trim_end()
            .split_once(':')
            .unwrap_or((line.trim_end(), ""));
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let line = read_line(&mut stream)?;
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&line).trim(), 16).unwrap_or(0);
            let mut chunk = vec![0u8; size + 2];
            stream.read_exact(&mut chunk)?;
            body.extend_from_slice(&line);
            body.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    } else if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(length, 0);
        stream.read_exact(&mut body)?;
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let respond = |stream: &mut TcpStream, status: &str, extra: &str, body: &str| {
        write!(
            stream,
            "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    if path.starts_with("/token") {
        if basic.is_some() && header("authorization").as_deref() != basic {
            return respond(
                &mut stream,
                "401 Unauthorized",
                "",
                r#"{"details":"bad credentials"}"#,
            );
        }
        let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let token = format!("token-{n}");
        tokens.lock().unwrap().insert(token.clone(), uses);
        return respond(
            &mut stream,
            "200 OK",
            "",
            &format!(r#"{{"token":"{token}"}}"#),
        );
    }
    let valid = header("authorization")
        .and_then(|value| value.strip_prefix("Bearer ").map(str::to_owned))
        .is_some_and(|token| {
            let mut tokens = tokens.lock().unwrap();
            match tokens.get_mut(&token) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    true
                }
                _ => false,
            }
        });
    if !valid {
        let repository = path
            .strip_prefix("/v2/")
            .and_then(|rest| rest.split("/manifests/").next())
            .and_then(|rest| rest.split("/blobs/").next())
            .unwrap_or("");
        let action = if matches!(method, "GET" | "HEAD") {
            "pull"
        } else {
            "pull,push"
        };
        let scope = if repository.is_empty() {
            String::new()
        } else {
            format!(",scope=\"repository:{repository}:{action}\"")
        };
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\"{scope}\r\n"
        );
        return respond(
            &mut stream,
            "401 Unauthorized",
            &challenge,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
    }
    let mut upstream_stream = TcpStream::connect(("127.0.0.1", upstream))?;
    write!(upstream_stream, "{method} {path} HTTP/1.1\r\n")?;
    for (name, value) in &headers {
        if name != "authorization" && name != "connection" {
            write!(upstream_stream, "{name}: {value}\r\n")?;
        }
    }
    write!(upstream_stream, "connection: close\r\n\r\n")?;
    upstream_stream.write_all(&body)?;
    std::io::copy(&mut upstream_stream, &mut stream)?;
    Ok(())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
