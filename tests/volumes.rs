//! Volumes end to end with real containers: named volumes across `down`/`up`/recreation and `down -v`,
//! seeding from the image (and `nocopy`), binds, read-only mounts, tmpfs sizes and modes, the local
//! driver's tmpfs and bind options, `volumes_from`, external volumes, and the `volume` commands.
//!
//! Root-gated like `tests/lifecycle.rs`; each fixture runs `down -v` on drop and checks that nothing
//! under its state root is left mounted.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Fixture, can_run};
use serde_json::Value;

/// A service that idles and stops at once (`sleep` as PID 1 ignores SIGTERM).
const IDLE: &str = "    image: busybox\n    command: sleep 1000\n    stop_signal: SIGKILL\n";

fn service(name: &str, extra: &str) -> String {
    format!("  {name}:\n{IDLE}{extra}")
}

/// `exec -T SERVICE sh -c SCRIPT`: (exit code, stdout, stderr).
fn sh(fixture: &Fixture, service: &str, script: &str) -> (i32, String, String) {
    let output = fixture.command(&["exec", "-T", service, "sh", "-c", script]);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// The output of a script that must succeed.
fn sh_ok(fixture: &Fixture, service: &str, script: &str) -> String {
    let (code, stdout, stderr) = sh(fixture, service, script);
    assert_eq!(code, 0, "{script}: {stdout}{stderr}");
    stdout
}

fn volume_names(fixture: &Fixture) -> Vec<String> {
    fixture
        .ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn named_volume_survives_down_up_and_recreate_and_goes_with_down_v() {
    if !can_run() {
        return;
    }
    let compose = |extra: &str| {
        format!(
            "services:\n{}{extra}volumes:\n  data:\n",
            service("app", "    volumes: [data:/data, /anon]\n")
        )
    };
    let fixture = Fixture::new("named", &compose(""));
    fixture.ok(&["up", "-d"]);
    sh_ok(
        &fixture,
        "app",
        "echo kept > /data/file; mkdir /data/dir; echo part > /data/dir/x; echo anon > /anon/f",
    );

    let before = fixture.id_of("app");
    fixture.ok(&["up", "-d", "--force-recreate"]);
    assert_ne!(fixture.id_of("app"), before, "--force-recreate recreates");
    assert_eq!(sh_ok(&fixture, "app", "cat /data/file"), "kept\n");
    // The recreated container finds its anonymous volume again.
    assert_eq!(sh_ok(&fixture, "app", "cat /anon/f"), "anon\n");

    // `subpath` mounts a directory of the volume; a missing one is an error.
    let part = |subpath: &str| {
        service(
            "part",
            &format!(
                "    volumes:\n      - {{type: volume, source: data, target: /part, volume: {{subpath: {subpath}}}}}\n"
            ),
        )
    };
    fixture.write(&compose(&part("nodir")));
    let error = fixture.fails(&["up", "-d"]);
    assert!(
        error.contains("subpath \"nodir\" does not exist"),
        "{error}"
    );
    fixture.write(&compose(&part("dir")));
    fixture.ok(&["up", "-d"]);
    assert_eq!(
        sh_ok(&fixture, "part", "ls /part; cat /part/x"),
        "x\npart\n"
    );
    fixture.write(&compose(""));
    fixture.ok(&["up", "-d", "--remove-orphans"]);

    fixture.ok(&["down"]);
    let kept = volume_names(&fixture);
    assert_eq!(
        kept.len(),
        2,
        "down keeps named and anonymous volumes: {kept:?}"
    );
    assert!(kept.contains(&"named_data".to_string()), "{kept:?}");
    fixture.ok(&["up", "-d"]);
    assert_eq!(sh_ok(&fixture, "app", "cat /data/file"), "kept\n");

    // Named and labelled as docker compose does.
    let inspect: Value =
        serde_json::from_str(&fixture.ok(&["volume", "inspect", "named_data"])).unwrap();
    let volume = &inspect[0];
    assert_eq!(volume["Name"], "named_data");
    assert_eq!(volume["Driver"], "local");
    assert_eq!(volume["Scope"], "local");
    assert_eq!(volume["Labels"]["com.docker.compose.project"], "named");
    assert_eq!(volume["Labels"]["com.docker.compose.volume"], "data");
    assert!(volume["Labels"]["com.docker.compose.version"].is_string());
    let mountpoint = volume["Mountpoint"].as_str().unwrap();
    assert!(
        mountpoint.ends_with("/volumes/named_data/_data"),
        "{mountpoint}"
    );
    assert!(std::path::Path::new(mountpoint).join("file").exists());

    fixture.ok(&["down", "-v"]);
    assert!(volume_names(&fixture).is_empty());
    assert!(!fixture.root.join("volumes/named_data").exists());
    fixture.ok(&["up", "-d"]);
    let (code, _, _) = sh(&fixture, "app", "cat /data/file");
    assert_ne!(code, 0, "a new volume after down -v is empty");
}

#[test]
fn empty_volumes_are_seeded_from_the_image_unless_nocopy() {
    if !can_run() {
        return;
    }
    let compose = format!(
        "services:\n{}{}{}volumes:\n  seeded:\n  plain:\n",
        service("app", "    volumes: [seeded:/srv/seed]\n"),
        service(
            "bare",
            "    volumes:\n      - {type: volume, source: plain, target: /srv/seed, volume: {nocopy: true}}\n"
        ),
        service("anon", "    volumes: [/srv/seed]\n"),
    );
    let fixture = Fixture::with_image("seed", &compose, |rootfs| {
        let seed = rootfs.join("srv/seed");
        std::fs::create_dir_all(seed.join("sub")).unwrap();
        std::fs::write(seed.join("a.txt"), "from the image\n").unwrap();
        std::fs::write(seed.join("sub/b"), "b\n").unwrap();
        std::os::unix::fs::symlink("a.txt", seed.join("link")).unwrap();
        std::fs::set_permissions(seed.join("a.txt"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::chown(seed.join("a.txt"), Some(65534), Some(65534)).unwrap();
        std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::chown(&seed, Some(65534), Some(65534)).unwrap();
    });
    fixture.ok(&["up", "-d"]);
    let listing = "stat -c '%n %a %u:%g' /srv/seed /srv/seed/a.txt; cat /srv/seed/sub/b; readlink /srv/seed/link";
    let expected = "/srv/seed 750 65534:65534\n/srv/seed/a.txt 640 65534:65534\nb\na.txt\n";
    assert_eq!(sh_ok(&fixture, "app", listing), expected);
    assert_eq!(sh_ok(&fixture, "anon", listing), expected);
    assert_eq!(sh_ok(&fixture, "bare", "ls -A /srv/seed"), "");

    // A volume that is not empty is never copied into again.
    sh_ok(&fixture, "app", "rm /srv/seed/a.txt");
    fixture.ok(&["up", "-d", "--force-recreate"]);
    assert_eq!(sh_ok(&fixture, "app", "ls /srv/seed"), "link\nsub\n");
}

#[test]
fn binds_follow_the_host_read_only_refuses_writes_and_missing_sources_fail() {
    if !can_run() {
        return;
    }
    let compose = format!(
        "services:\n{}",
        service(
            "app",
            "    volumes:\n      - ./host:/host\n      - {type: bind, source: ./ro, target: /ro, read_only: true}\n"
        )
    );
    let fixture = Fixture::new("binds", &compose);
    // Long syntax does not create a missing source (docker's rule); nothing is created.
    let error = fixture.fails(&["up", "-d"]);
    assert!(error.contains("bind source path does not exist"), "{error}");
    assert!(error.contains("/ro"), "{error}");
    assert!(fixture.containers().is_empty());

    std::fs::create_dir(fixture.path().join("ro")).unwrap();
    std::fs::write(fixture.path().join("ro/file"), "read me\n").unwrap();
    fixture.ok(&["up", "-d"]);
    // The short syntax created its source.
    let host = fixture.path().join("host");
    assert!(host.is_dir());

    std::fs::write(host.join("note"), "one\n").unwrap();
    assert_eq!(sh_ok(&fixture, "app", "cat /host/note"), "one\n");
    std::fs::write(host.join("note"), "two\n").unwrap();
    assert_eq!(sh_ok(&fixture, "app", "cat /host/note"), "two\n");
    sh_ok(&fixture, "app", "echo back > /host/reply");
    assert_eq!(
        std::fs::read_to_string(host.join("reply")).unwrap(),
        "back\n"
    );

    assert_eq!(sh_ok(&fixture, "app", "cat /ro/file"), "read me\n");
    let (code, _, stderr) = sh(&fixture, "app", "echo x > /ro/new");
    assert_ne!(code, 0);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(!fixture.path().join("ro/new").exists());
}

#[test]
fn tmpfs_mounts_and_tmpfs_or_bind_volumes_have_their_size_and_mode() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("tmpfs", "services: {}\n");
    let device = fixture.path().join("device");
    std::fs::create_dir(&device).unwrap();
    fixture.write(&format!(
        "services:\n{}volumes:\n  scratch:\n    driver_opts: {{type: tmpfs, device: tmpfs, o: \"size=3m,mode=0755\"}}\n  hostdir:\n    driver_opts: {{type: none, o: bind, device: {}}}\n",
        service(
            "app",
            "    tmpfs: [\"/small:size=1m,mode=0700\"]\n    volumes:\n      - {type: tmpfs, target: /t, tmpfs: {size: 2m, mode: 0o1770}}\n      - scratch:/scratch\n      - hostdir:/hostdir\n"
        ),
        device.display()
    ));
    fixture.ok(&["up", "-d"]);
    let sizes = sh_ok(
        &fixture,
        "app",
        "for d in /small /t /scratch; do echo $d $(stat -c %a $d) $(df -k $d | tail -1 | awk '{print $2}'); done",
    );
    assert_eq!(sizes, "/small 700 1024\n/t 1770 2048\n/scratch 755 3072\n");
    // The size is a limit.
    let (code, _, _) = sh(
        &fixture,
        "app",
        "dd if=/dev/zero of=/small/fill bs=1k count=2048",
    );
    assert_ne!(code, 0);

    sh_ok(&fixture, "app", "echo through > /hostdir/file");
    assert_eq!(
        std::fs::read_to_string(device.join("file")).unwrap(),
        "through\n"
    );
    let inspect: Value =
        serde_json::from_str(&fixture.ok(&["volume", "inspect", "tmpfs_scratch", "tmpfs_hostdir"]))
            .unwrap();
    assert_eq!(inspect[0]["Options"]["type"], "tmpfs");
    assert_eq!(inspect[0]["Options"]["o"], "size=3m,mode=0755");
    assert_eq!(inspect[1]["Options"]["o"], "bind");

    // A tmpfs volume's content lives with the container, not on the host.
    sh_ok(&fixture, "app", "echo gone > /scratch/file");
    assert!(
        std::fs::read_dir(fixture.root.join("volumes/tmpfs_scratch/_data"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn volumes_from_shares_another_containers_mounts_with_its_mode() {
    if !can_run() {
        return;
    }
    let compose = format!(
        "services:\n{}{}{}{}volumes:\n  shared:\n",
        service("source", "    volumes: [shared:/shared, ./bind:/bind]\n"),
        service("reader", "    volumes_from: [\"source:ro\"]\n"),
        service("writer", "    volumes_from: [source]\n"),
        service(
            "byname",
            "    volumes_from: [\"container:vf-source-1\"]\n    depends_on: [source]\n"
        ),
    );
    let fixture = Fixture::new("vf", &compose);
    fixture.ok(&["up", "-d"]);
    sh_ok(
        &fixture,
        "source",
        "echo hello > /shared/x; echo b > /bind/y",
    );
    assert_eq!(
        sh_ok(&fixture, "reader", "cat /shared/x /bind/y"),
        "hello\nb\n"
    );
    let (code, _, stderr) = sh(&fixture, "reader", "echo no > /shared/z");
    assert_ne!(code, 0);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    sh_ok(&fixture, "writer", "echo w > /shared/w");
    assert_eq!(sh_ok(&fixture, "source", "cat /shared/w"), "w\n");
    assert_eq!(
        sh_ok(&fixture, "byname", "cat /shared/x /bind/y"),
        "hello\nb\n"
    );
}

#[test]
fn a_missing_external_volume_is_a_clear_error_and_down_v_keeps_external_ones() {
    if !can_run() {
        return;
    }
    let compose = format!(
        "services:\n{}volumes:\n  ext:\n    external: true\n    name: outside\n  own:\n",
        service("app", "    volumes: [ext:/data, own:/own]\n")
    );
    let fixture = Fixture::new("ext", &compose);
    let error = fixture.fails(&["up", "-d"]);
    assert!(
        error.contains("external volume \"outside\" not found"),
        "{error}"
    );
    assert!(error.contains("rcompose volume create outside"), "{error}");
    assert!(fixture.containers().is_empty());
    assert!(volume_names(&fixture).is_empty(), "nothing is created");

    assert_eq!(fixture.ok(&["volume", "create", "outside"]), "outside\n");
    fixture.ok(&["up", "-d"]);
    sh_ok(&fixture, "app", "echo precious > /data/file");
    fixture.ok(&["down", "-v"]);
    assert_eq!(volume_names(&fixture), ["outside"]);
    let inspect: Value =
        serde_json::from_str(&fixture.ok(&["volume", "inspect", "outside"])).unwrap();
    let mountpoint = inspect[0]["Mountpoint"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(mountpoint).join("file")).unwrap(),
        "precious\n"
    );
    assert_eq!(fixture.ok(&["volume", "rm", "outside"]), "outside\n");
}

#[test]
fn volume_commands_list_inspect_remove_and_prune() {
    if !can_run() {
        return;
    }
    let compose = format!(
        "services:\n{}volumes:\n  data:\n    labels: {{tier: db}}\n",
        service("app", "    volumes: [data:/data, /anon]\n")
    );
    let fixture = Fixture::new("cmd", &compose);
    fixture.ok(&["up", "-d"]);
    let names = volume_names(&fixture);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"cmd_data".to_string()));
    let anonymous = names.iter().find(|n| *n != "cmd_data").unwrap().clone();
    assert!(anonymous.starts_with("cmd-app-1_"), "{anonymous}");

    let table = fixture.ok(&["volume", "ls"]);
    assert!(table.starts_with("DRIVER    VOLUME NAME\n"), "{table}");
    assert!(table.contains("local     cmd_data\n"), "{table}");
    let lines: Vec<Value> = fixture
        .ok(&["volume", "ls", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let data = lines.iter().find(|l| l["Name"] == "cmd_data").unwrap();
    assert!(data["Labels"].as_str().unwrap().contains("tier=db"));
    assert_eq!(
        fixture.ok(&["volume", "ls", "-q", "-f", "label=tier=db"]),
        "cmd_data\n"
    );
    assert_eq!(
        fixture.ok(&["volume", "ls", "-q", "-f", "dangling=true"]),
        ""
    );
    // docker compose's `volumes`: the project's.
    assert_eq!(fixture.ok(&["volumes", "-q"]).lines().count(), 2);
    let json: Value = serde_json::from_str(
        fixture
            .ok(&["volumes", "--format", "json"])
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["Driver"], "local");
    let inspect: Value =
        serde_json::from_str(&fixture.ok(&["volume", "inspect", &anonymous])).unwrap();
    assert_eq!(inspect[0]["Labels"]["com.docker.volume.anonymous"], "");
    assert!(inspect[0]["CreatedAt"].as_str().unwrap().ends_with('Z'));

    // In use: refused, even with -f.
    for args in [
        &["volume", "rm", "cmd_data"][..],
        &["volume", "rm", "-f", "cmd_data"],
    ] {
        let error = fixture.fails(args);
        assert!(error.contains("in use"), "{error}");
        assert!(error.contains("cmd-app-1"), "{error}");
    }
    assert!(
        fixture
            .fails(&["volume", "rm", "nope"])
            .contains("no such volume")
    );
    fixture.ok(&["volume", "rm", "-f", "nope"]);

    // Prune: unused only, anonymous only unless -a, this project's only (-p).
    fixture.ok(&[
        "volume",
        "create",
        "--label",
        "com.docker.compose.project=cmd",
        "spare",
    ]);
    fixture.ok(&["volume", "create", "foreign"]);
    let pruned = fixture.ok(&["volume", "prune", "-f"]);
    assert_eq!(pruned, "Total reclaimed space: 0B\n");
    let pruned = fixture.ok(&["volume", "prune", "-f", "-a"]);
    assert!(
        pruned.starts_with("Deleted Volumes:\nspare\n\n"),
        "{pruned}"
    );
    fixture.ok(&["down"]);
    let pruned = fixture.ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains(&format!("\n{anonymous}\n")), "{pruned}");
    let mut left = volume_names(&fixture);
    left.sort();
    assert_eq!(left, ["cmd_data", "foreign"]);
    assert_eq!(
        fixture.ok(&["volume", "rm", "cmd_data", "foreign"]),
        "cmd_data\nforeign\n"
    );
    assert!(volume_names(&fixture).is_empty());
    // What the volume directory held is gone with it.
    let left = std::fs::read_dir(fixture.root.join("volumes"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != ".lock")
        .count();
    assert_eq!(left, 0);
}
