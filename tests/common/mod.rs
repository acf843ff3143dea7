//! Helpers shared by the tests that run real containers through the rcompose binary: the root gate, and
//! a [`Fixture`] (a project directory, a temporary state root, a busybox image imported offline from
//! Debian's busybox-static) that tears everything down on drop and checks nothing stays mounted.
//!
//! Each test binary includes this module with `mod common;` and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Whether root tests can run here: without root (or busybox) they print why and return, unless
/// `RCOMPOSE_TEST_ROOT=1` (CI), where that is a failure.
pub fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let busybox = Path::new("/bin/busybox").exists();
    if root && busybox {
        return true;
    }
    let why = if root {
        "skipped: needs /bin/busybox (apt-get install busybox-static)"
    } else {
        "skipped: needs root"
    };
    assert!(
        std::env::var("RCOMPOSE_TEST_ROOT").as_deref() != Ok("1"),
        "{why}, and RCOMPOSE_TEST_ROOT=1 forbids skipping"
    );
    eprintln!("{why}");
    false
}

/// A project directory and state root, torn down on drop.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub name: String,
}

impl Fixture {
    /// A project `name` with `compose` as its compose.yaml and busybox:latest imported.
    pub fn new(name: &str, compose: &str) -> Fixture {
        Fixture::with_image(name, compose, |_| {})
    }

    /// Like [`Fixture::new`], with `customize` adding to the image's root filesystem before import.
    pub fn with_image(name: &str, compose: &str, customize: impl FnOnce(&Path)) -> Fixture {
        let fixture = Fixture::without_image(name, compose);
        let rootfs = fixture.dir.path().join("rootfs");
        fixture.busybox_rootfs(&rootfs);
        customize(&rootfs);
        fixture.pack_and_import(&rootfs);
        fixture
    }

    /// A project `name` with `compose` as its compose.yaml and an empty state root: the test brings
    /// its own images.
    pub fn without_image(name: &str, compose: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("state");
        std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
        Fixture {
            root,
            dir,
            name: name.to_string(),
        }
    }

    /// The project directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Imports busybox:latest again; a second import makes a different image under the same name.
    pub fn import_busybox(&self) {
        let rootfs = self.dir.path().join("rootfs");
        if rootfs.exists() {
            std::fs::write(
                rootfs.join("etc/generation"),
                format!("{:?}", std::time::SystemTime::now()),
            )
            .unwrap();
        } else {
            self.busybox_rootfs(&rootfs);
        }
        self.pack_and_import(&rootfs);
    }

    fn busybox_rootfs(&self, rootfs: &Path) {
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter(|a| *a != "busybox")
        {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    }

    pub fn pack_and_import(&self, rootfs: &Path) {
        let tar = self.dir.path().join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        self.ok(&[
            "image",
            "import",
            "--change",
            "CMD [\"sh\"]",
            tar.to_str().unwrap(),
            "busybox:latest",
        ]);
    }

    /// The rcompose command with the fixture's root and project name, in the project directory, not
    /// yet run (for tests that spawn it and act on the process).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rcompose"));
        command
            .arg("--root")
            .arg(&self.root)
            .arg("-p")
            .arg(&self.name)
            .args(args)
            .current_dir(self.dir.path())
            .env("RCOMPOSE_TEST", "1")
            // Tests keep their traffic on the machine: no masquerade (see reconcile::networks), no
            // registry off it (see runtime::registry::resolve).
            .env("RCOMPOSE_MASQUERADE", "0")
            .env("RCOMPOSE_OFFLINE", "1");
        command
    }

    /// Runs rcompose with the fixture's root and project name in the project directory.
    pub fn command(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run rcompose")
    }

    /// Runs rcompose, expects success, returns standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.command(args);
        assert!(
            output.status.success(),
            "rcompose {args:?} failed ({:?}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).to_string()
    }

    /// Runs rcompose, expects failure, returns standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.command(args);
        assert!(
            !output.status.success(),
            "rcompose {args:?} succeeded but should have failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stderr).to_string()
    }

    pub fn write(&self, compose: &str) {
        std::fs::write(self.dir.path().join("compose.yaml"), compose).unwrap();
    }

    /// `ps -a --format json`, by service.
    pub fn containers(&self) -> Vec<Value> {
        self.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn id_of(&self, service: &str) -> String {
        self.containers()
            .iter()
            .find(|c| c["Service"] == service)
            .map(|c| c["ID"].as_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let ids = String::from_utf8_lossy(&self.command(&["ps", "-aq"]).stdout).to_string();
        let _ = self.command(&["down", "-v", "-t", "1", "--remove-orphans"]);
        if std::thread::panicking() {
            return;
        }
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let root = self.root.display().to_string();
        assert!(
            !mounts.contains(&root),
            "mounts left under {root}:\n{mounts}"
        );
        // No cgroup of any container survives `down`.
        for id in ids.lines() {
            for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
            {
                let cgroup = hierarchy.path().join("rcompose").join(id);
                assert!(!cgroup.exists(), "cgroup left: {}", cgroup.display());
            }
        }
    }
}

/// The Compose Specification's schema (test data in `../shared/compose-spec`, not vendored), or
/// `None` (and a note) when the file is not there.
pub fn compose_schema() -> Option<Value> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "shared",
        "compose-spec",
        "compose-spec.json",
    ]
    .iter()
    .collect();
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipped: compose-spec.json not found at {}", path.display());
        return None;
    };
    Some(serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display())))
}
