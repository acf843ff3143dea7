//! Smaller attributes that reach the container (issue #16, part B): an image's `VOLUME` gets an
//! anonymous volume, anonymous volume `labels`, `bind.propagation` (binds are `rprivate` by
//! default, as docker's), `attach: false`, `annotations` in the container's record.
//!
//! Root-gated (see `common::can_run`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Fixture;

fn exec(fx: &Fixture, service: &str, script: &str) -> (bool, String) {
    let output = fx.command(&["exec", "-T", service, "sh", "-c", script]);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    )
}

#[test]
fn an_image_volume_gets_an_anonymous_volume_and_mount_labels_label_it() {
    if !common::can_run() {
        return;
    }
    let compose = r#"
services:
  app:
    build:
      context: .
      dockerfile_inline: |
        FROM busybox
        COPY seed /data/seed
        VOLUME /data
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
    annotations:
      org.example.team: storage
    volumes:
      - type: volume
        target: /cache
        volume:
          labels:
            org.example.purpose: cache
"#;
    let fx = Fixture::new("imagevol", compose);
    std::fs::write(fx.path().join("seed"), "seeded\n").unwrap();
    fx.ok(&["up", "-d"]);
    // The image's VOLUME is a mount of its own, seeded from the image, that outlives a recreation.
    let (_, seed) = exec(&fx, "app", "cat /data/seed");
    assert_eq!(seed, "seeded");
    let (_, mounts) = exec(&fx, "app", "grep -c ' /data ' /proc/mounts");
    assert_eq!(mounts, "1");
    exec(&fx, "app", "echo kept > /data/note");
    fx.ok(&["up", "-d", "--force-recreate"]);
    let (_, note) = exec(&fx, "app", "cat /data/note");
    assert_eq!(note, "kept");
    // Anonymous volumes: the image's and the service's, the latter with the mount's labels.
    let volumes = fx.ok(&["volume", "ls", "--format", "json"]);
    let volumes: Vec<serde_json::Value> = volumes
        .lines()
        .flat_map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .map(|v| match v {
                    serde_json::Value::Array(items) => items,
                    other => vec![other],
                })
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(volumes.len(), 2, "{volumes:?}");
    let labelled = volumes
        .iter()
        .filter(|v| {
            v["Labels"]
                .as_str()
                .is_some_and(|l| l.contains("org.example.purpose=cache"))
        })
        .count();
    assert_eq!(labelled, 1, "{volumes:?}");
    // annotations live in the container's record (no runtime here gives them a meaning).
    let id = fx.ok(&["ps", "-q", "app"]).trim().to_string();
    let record =
        std::fs::read_to_string(fx.root.join("containers").join(&id).join("config.json")).unwrap();
    assert!(record.contains("org.example.team"), "{record}");
    fx.ok(&["down", "-v", "-t", "0"]);
    assert_eq!(fx.ok(&["volume", "ls", "-q"]).trim(), "");
}

/// A shared mount on the host for the test's bind source, unmounted on drop (even on failure).
struct SharedSource {
    path: PathBuf,
}

impl SharedSource {
    fn new(path: &Path) -> SharedSource {
        std::fs::create_dir_all(path.join("sub")).unwrap();
        let run = |args: &[&str]| {
            let status = Command::new("mount").args(args).status().unwrap();
            assert!(status.success(), "mount {args:?}");
        };
        let text = path.to_str().unwrap();
        run(&["--bind", text, text]);
        run(&["--make-shared", text]);
        SharedSource {
            path: path.to_owned(),
        }
    }
}

impl Drop for SharedSource {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path.join("sub")).status();
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn binds_are_rprivate_unless_propagation_says_otherwise() {
    if !common::can_run() {
        return;
    }
    let compose = r#"
services:
  private:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
    volumes: ["./src:/data"]
  slave:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
    volumes:
      - type: bind
        source: ./src
        target: /data
        bind:
          propagation: rslave
"#;
    let fx = Fixture::new("propagation", compose);
    let source = SharedSource::new(&fx.path().join("src"));
    fx.ok(&["up", "-d"]);
    // A mount made on the host after the start reaches the rslave bind only.
    let sub = source.path.join("sub");
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(sub.join("file"), "from the host\n").unwrap();
    let (_, slave) = exec(&fx, "slave", "cat /data/sub/file");
    assert_eq!(slave, "from the host");
    let (seen, _) = exec(&fx, "private", "cat /data/sub/file");
    assert!(!seen, "an rprivate bind received a host mount");
    let _ = Command::new("umount").arg(&sub).status();
    fx.ok(&["down", "-t", "0"]);
    drop(source);
}

#[test]
fn attach_false_keeps_a_service_out_of_an_attached_up() {
    if !common::can_run() {
        return;
    }
    let compose = r#"
services:
  quiet:
    image: busybox
    attach: false
    command: ["sh", "-c", "echo from-quiet"]
  loud:
    image: busybox
    command: ["sh", "-c", "sleep 1; echo from-loud"]
"#;
    let fx = Fixture::new("attachfalse", compose);
    let output = fx.ok(&["up"]);
    assert!(output.contains("from-loud"), "{output}");
    assert!(!output.contains("from-quiet"), "{output}");
    // `--attach` names it: then it is streamed.
    let output = fx.ok(&["up", "--attach", "quiet", "--force-recreate"]);
    assert!(output.contains("from-quiet"), "{output}");
    fx.ok(&["down", "-t", "0"]);
}

#[test]
fn external_links_name_a_container_under_an_alias() {
    if !common::can_run() {
        return;
    }
    let compose = r#"
services:
  db:
    image: busybox
    container_name: legacy-db
    stop_signal: SIGKILL
    command: ["sleep", "1000"]
  app:
    image: busybox
    stop_signal: SIGKILL
    dns: [127.0.0.1]
    command: ["sleep", "1000"]
    external_links: ["legacy-db:database"]
"#;
    let fx = Fixture::new("extlinks", compose);
    fx.ok(&["up", "-d"]);
    let (_, hosts) = exec(&fx, "app", "cat /etc/hosts");
    let line = hosts
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == "database"))
        .unwrap_or_else(|| panic!("no database in:\n{hosts}"));
    assert!(line.contains("legacy-db"), "{line}");
    // Only the linking service sees the alias.
    let (_, db_hosts) = exec(&fx, "db", "cat /etc/hosts");
    assert!(!db_hosts.contains("database"), "{db_hosts}");
    fx.ok(&["down", "-t", "0"]);
}
