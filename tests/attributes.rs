//! Service attributes that reach the container (issue #16, part A), each observed from inside a
//! real container: `secrets` and `configs`, `logging`, the `post_start` and `pre_stop` hooks,
//! healthchecks from the image, `deploy.restart_policy`, `tmpfs` options and `provider:` services.
//!
//! Root-gated like `tests/lifecycle.rs`; each fixture runs `down -v` on drop and checks that nothing
//! under its state root is left mounted.

mod common;

use common::{Fixture, can_run};

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

/// A database-like service: it reads its password from `/run/secrets/db_password` when it starts
/// (so the file is there before the process), and its configs at their targets with the modes and
/// owners asked for; nothing of them is writable from the container, even for its root and even
/// in a read-only container; a changed content recreates the container on `up`.
#[test]
fn secrets_and_configs_are_read_only_files_in_place_before_the_start() {
    if !can_run() {
        return;
    }
    let compose = "services:
  db:
    image: busybox
    read_only: true
    stop_signal: SIGKILL
    command: [sh, -c, 'test \"$$(cat /run/secrets/db_password)\" = hunter2 && echo password ok; sleep 1000']
    environment: {DB_PASSWORD_FILE: /run/secrets/db_password}
    secrets:
      - db_password
      - {source: token, target: api_token, uid: \"65534\", mode: 0400}
      - {source: certs, target: /etc/certs}
    configs:
      - app_conf
      - {source: inline, target: /etc/inline.conf, gid: \"65534\", mode: \"0440\"}
secrets:
  db_password: {file: ./db_password.txt}
  token: {environment: API_TOKEN}
  certs: {file: ./certs}
configs:
  app_conf: {file: ./app.conf}
  inline: {content: \"listen ${PORT:-80}\"}
";
    let fixture = Fixture::new("secrets", compose);
    let dir = fixture.path();
    std::fs::write(dir.join("db_password.txt"), "hunter2").unwrap();
    std::fs::write(dir.join("app.conf"), "debug = true\n").unwrap();
    std::fs::create_dir(dir.join("certs")).unwrap();
    std::fs::write(dir.join("certs/ca.pem"), "CA").unwrap();
    let up = |token: &str| {
        let output = fixture
            .cmd(&["up", "-d"])
            .env("API_TOKEN", token)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    up("t0ken");
    // `up -d` returns once the process runs; its first line follows (read the log until it comes).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let logs = loop {
        let logs = fixture.ok(&["logs", "db"]);
        if logs.contains("password ok") || std::time::Instant::now() > deadline {
            break logs;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(logs.contains("password ok"), "{logs}");
    let stat = |path: &str| sh_ok(&fixture, "db", &format!("stat -c '%a %u %g' {path}"));
    assert_eq!(stat("/run/secrets/db_password"), "444 0 0\n");
    assert_eq!(stat("/run/secrets/api_token"), "400 65534 0\n");
    assert_eq!(stat("/app_conf"), "444 0 0\n");
    assert_eq!(stat("/etc/inline.conf"), "440 0 65534\n");
    let cat = |path: &str| sh_ok(&fixture, "db", &format!("cat {path}"));
    assert_eq!(cat("/run/secrets/api_token"), "t0ken");
    assert_eq!(cat("/app_conf"), "debug = true\n");
    assert_eq!(cat("/etc/inline.conf"), "listen 80");
    assert_eq!(cat("/etc/certs/ca.pem"), "CA");
    // The owner reads its 0400 file; others do not.
    assert_eq!(
        sh_ok(
            &fixture,
            "db",
            "su nobody -s /bin/sh -c 'cat /run/secrets/api_token'"
        ),
        "t0ken"
    );
    let (code, _, _) = sh(
        &fixture,
        "db",
        "su nobody -s /bin/sh -c 'cat /etc/inline.conf'",
    );
    assert_eq!(code, 0, "group 65534 reads a 0440 file");
    // Not even the container's root changes them.
    for script in [
        "echo x > /run/secrets/db_password",
        "chmod 666 /run/secrets/db_password",
        "chown 1 /app_conf",
        "echo x >> /etc/inline.conf",
        "touch /etc/certs/new",
        "rm /run/secrets/api_token",
    ] {
        let (code, _, _) = sh(&fixture, "db", script);
        assert_ne!(code, 0, "{script} succeeded");
    }

    // Unchanged contents keep the container; a changed one recreates it, with the new content.
    let before = fixture.id_of("db");
    up("t0ken");
    assert_eq!(fixture.id_of("db"), before, "nothing changed");
    up("n3w");
    let after = fixture.id_of("db");
    assert_ne!(after, before, "a changed secret recreates");
    assert_eq!(cat("/run/secrets/api_token"), "n3w");
    std::fs::write(dir.join("db_password.txt"), "hunter3").unwrap();
    let plan = fixture
        .cmd(&["up", "-d", "--dry-run"])
        .env("API_TOKEN", "n3w")
        .output()
        .unwrap();
    let plan =
        String::from_utf8_lossy(&plan.stdout).to_string() + &String::from_utf8_lossy(&plan.stderr);
    assert!(plan.contains("contents.secrets.db_password"), "{plan}");

    // The files go with the container.
    fixture.ok(&["down"]);
    let containers = fixture.root.join("containers");
    let left: Vec<_> = std::fs::read_dir(&containers)
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|name| name.to_string_lossy().starts_with('.')),
        "{left:?}"
    );

    // An unset variable fails as docker compose does.
    let output = fixture.command(&["up", "-d"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("environment variable \"API_TOKEN\" required by secret"),
        "{stderr}"
    );
}

/// `external: true` secrets and configs do not exist without swarm: refused as docker compose
/// refuses them, at the line that declares them.
#[test]
fn external_secrets_are_refused_with_their_line() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "external",
        "services:\n  app:\n    image: busybox\n    secrets: [key]\nsecrets:\n  key:\n    external: true\n",
    );
    let stderr = fixture.fails(&["up", "-d"]);
    assert!(
        stderr.contains("unsupported external secret key"),
        "{stderr}"
    );
    assert!(stderr.contains("compose.yaml:7"), "{stderr}");
    // `config` shows the file as docker compose does.
    fixture.ok(&["config"]);
    // So are the swarm's secret drivers.
    fixture.write(
        "services:\n  app:\n    image: busybox\n    secrets: [key]\nsecrets:\n  key:\n    file: ./key\n    driver: vault\n",
    );
    let stderr = fixture.fails(&["up", "-d"]);
    assert!(
        stderr.contains("compose.yaml:8") && stderr.contains("`driver` is not supported"),
        "{stderr}"
    );
}

/// The container directory of a service's first container.
fn container_dir(fixture: &Fixture, service: &str) -> std::path::PathBuf {
    let id = fixture.id_of(service);
    assert!(!id.is_empty(), "no container for {service}");
    std::fs::read_dir(fixture.root.join("containers"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.file_name().unwrap().to_string_lossy().starts_with(&id))
        .expect("the container's directory")
}

/// `logging`: `none` keeps no log (and `logs` says so, as docker compose does); json-file's
/// `max-size`, `max-file` and `compress` rotate the log, which `logs` reads back whole and in
/// order; drivers that need a daemon of their own are refused at their line.
#[test]
fn logging_drivers_and_rotation() {
    if !can_run() {
        return;
    }
    let compose = "services:
  quiet:
    image: busybox
    command: [sh, -c, 'echo hello; sleep 1000']
    stop_signal: SIGKILL
    logging: {driver: none}
  rotated:
    image: busybox
    command: [sh, -c, 'i=0; while [ $$i -lt 300 ]; do i=$$((i+1)); echo \"line $$i ..............................\"; done; sleep 1000']
    stop_signal: SIGKILL
    logging:
      driver: json-file
      options: {max-size: 4k, max-file: \"3\", compress: \"true\"}
";
    let fixture = Fixture::new("logging", compose);
    fixture.ok(&["up", "-d"]);
    // Every line is logged once the last one is.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let lines = loop {
        let logs = fixture.ok(&["logs", "--no-log-prefix", "rotated"]);
        if logs.contains("line 300 ") || std::time::Instant::now() > deadline {
            break logs;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let numbers: Vec<u32> = lines
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(numbers.last(), Some(&300), "{lines}");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert!(
        numbers.len() < 300,
        "three files of 4 kB do not hold 300 lines"
    );
    assert!(
        numbers.len() > 60,
        "the rotated files are read too: {}",
        numbers.len()
    );
    let dir = container_dir(&fixture, "rotated");
    assert!(std::fs::metadata(dir.join("container.log")).unwrap().len() <= 4000);
    assert!(dir.join("container.log.1.gz").exists());
    assert!(dir.join("container.log.2.gz").exists());
    assert!(!dir.join("container.log.3.gz").exists());
    assert!(!dir.join("container.log.1").exists());

    let output = fixture.command(&["logs", "quiet"]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("configured logging driver does not support reading"),
        "{stderr}"
    );
    assert!(
        !container_dir(&fixture, "quiet")
            .join("container.log")
            .exists()
    );
    fixture.ok(&["down"]);

    fixture.write(
        "services:\n  app:\n    image: busybox\n    logging:\n      driver: syslog\n      options: {syslog-address: \"udp://127.0.0.1:514\"}\n",
    );
    let stderr = fixture.fails(&["up", "-d"]);
    assert!(
        stderr.contains("compose.yaml:5")
            && stderr.contains("logging driver \"syslog\" is not supported"),
        "{stderr}"
    );
}

/// `post_start` runs in the container right after it starts, with the hook's user, working
/// directory, environment and privileges; `pre_stop` runs before `stop` and `down` stop it; a
/// failing `post_start` fails `up` with docker compose's message.
#[test]
fn lifecycle_hooks_run_in_the_container() {
    if !can_run() {
        return;
    }
    let compose = "services:
  app:
    image: busybox
    command: sleep 1000
    stop_signal: SIGKILL
    volumes: [./out:/out]
    post_start:
      - command: [sh, -c, 'echo \"$$GREETING $$(id -u) $$(pwd)\" > /out/post_start']
        user: nobody
        working_dir: /tmp
        environment: {GREETING: hi}
      - command: [sh, -c, 'grep CapEff /proc/self/status > /out/caps']
        privileged: true
    pre_stop:
      - command: [sh, -c, 'echo stopping >> /out/pre_stop']
";
    let fixture = Fixture::new("hooks", compose);
    let out = fixture.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    fixture.ok(&["up", "-d"]);
    assert_eq!(
        std::fs::read_to_string(out.join("post_start")).unwrap(),
        "hi 65534 /tmp\n"
    );
    let caps = std::fs::read_to_string(out.join("caps")).unwrap();
    assert!(!caps.contains("00000000a80425fb"), "privileged: {caps}");
    assert!(!out.join("pre_stop").exists());
    fixture.ok(&["stop"]);
    assert_eq!(
        std::fs::read_to_string(out.join("pre_stop")).unwrap(),
        "stopping\n"
    );
    fixture.ok(&["start"]);
    fixture.ok(&["down"]);
    assert_eq!(
        std::fs::read_to_string(out.join("pre_stop")).unwrap(),
        "stopping\nstopping\n"
    );

    fixture.write(
        "services:\n  bad:\n    image: busybox\n    command: sleep 1000\n    stop_signal: SIGKILL\n    post_start:\n      - command: [sh, -c, 'echo almost; echo broken >&2; exit 3']\n",
    );
    let stderr = fixture.fails(&["up", "-d"]);
    assert!(
        stderr.contains("bad hook exited with status 3: broken"),
        "{stderr}"
    );
    fixture.ok(&["down"]);

    // `pre_start` is not there yet: refused at its line rather than skipped.
    fixture.write(
        "services:\n  app:\n    image: busybox\n    pre_start:\n      - command: [\"true\"]\n",
    );
    let stderr = fixture.fails(&["up", "-d"]);
    assert!(
        stderr.contains("compose.yaml:4") && stderr.contains("pre_start hooks are not supported"),
        "{stderr}"
    );
}

/// An image's HEALTHCHECK survives `image save` and `image load`, is its services' when they set
/// none, and gives its test to a service `healthcheck` with timings only; `depends_on:
/// service_healthy` on a container with no healthcheck at all fails at once, as docker compose
/// does, rather than wait forever.
#[test]
fn healthchecks_from_the_image_and_none_at_all() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "health",
        "services:\n  img:\n    build: ./hc\n    image: hc:latest\n",
    );
    let dir = fixture.path();
    std::fs::create_dir(dir.join("hc")).unwrap();
    std::fs::write(
        dir.join("hc/Dockerfile"),
        "FROM busybox:latest\nHEALTHCHECK --interval=1s --timeout=2s CMD test -f /tmp/ready\n",
    )
    .unwrap();
    fixture.ok(&["build"]);
    let archive = dir.join("hc.tar");
    fixture.ok(&[
        "image",
        "save",
        "-o",
        archive.to_str().unwrap(),
        "hc:latest",
    ]);
    fixture.ok(&["image", "rm", "hc:latest"]);
    fixture.ok(&["image", "load", "-i", archive.to_str().unwrap()]);

    fixture.write(
        "services:
  db:
    image: hc:latest
    command: [sh, -c, 'sleep 1; touch /tmp/ready; exec sleep 1000']
    stop_signal: SIGKILL
  timed:
    image: hc:latest
    command: [sh, -c, 'touch /tmp/ready; exec sleep 1000']
    stop_signal: SIGKILL
    healthcheck: {interval: 500ms, retries: 2}
  app:
    image: busybox
    command: sleep 1000
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy}
      timed: {condition: service_healthy}
",
    );
    fixture.ok(&["up", "-d"]);
    for container in fixture.containers() {
        if container["Service"] != "app" {
            assert_eq!(container["Health"], "healthy", "{container}");
        }
    }
    fixture.ok(&["down"]);

    // No healthcheck anywhere (timings only, and an image without one): fails at once.
    fixture.write(
        "services:
  db:
    image: busybox
    command: sleep 1000
    stop_signal: SIGKILL
    healthcheck: {interval: 1s}
  app:
    image: busybox
    command: sleep 1000
    depends_on: {db: {condition: service_healthy}}
",
    );
    let started = std::time::Instant::now();
    let stderr = fixture.fails(&["up", "-d"]);
    assert!(
        stderr.contains("container health-db-1 has no healthcheck configured"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// `deploy.restart_policy` conditions as docker compose maps them (`on-failure` with
/// `max_attempts`, `unless-stopped`, `none`), and dockerd's refusal of a retry count elsewhere.
#[test]
fn deploy_restart_policy_conditions() {
    if !can_run() {
        return;
    }
    let compose = "services:
  failing:
    image: busybox
    command: [sh, -c, 'echo run >> /out/failing; exit 3']
    volumes: [./out:/out]
    deploy:
      restart_policy: {condition: on-failure, max_attempts: 2}
  forever:
    image: busybox
    command: [sh, -c, 'echo run >> /out/forever; exit 0']
    volumes: [./out:/out]
    deploy:
      restart_policy: {condition: unless-stopped}
  once:
    image: busybox
    command: [sh, -c, 'echo run >> /out/once; exit 1']
    volumes: [./out:/out]
    deploy:
      restart_policy: {condition: none}
";
    let fixture = Fixture::new("restarts", compose);
    std::fs::create_dir(fixture.path().join("out")).unwrap();
    fixture.ok(&["up", "-d"]);
    let runs = |name: &str| {
        std::fs::read_to_string(fixture.path().join("out").join(name))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while (runs("failing") < 3 || runs("forever") < 3) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(runs("failing"), 3, "one run and two restarts");
    assert!(runs("forever") >= 3);
    assert_eq!(runs("once"), 1);
    fixture.ok(&["down"]);

    fixture.write(
        "services:\n  app:\n    image: busybox\n    deploy:\n      restart_policy: {condition: any, max_attempts: 3}\n",
    );
    let stderr = fixture.fails(&["up", "-d"]);
    assert!(
        stderr.contains("maximum retry count can only be used with 'on-failure'"),
        "{stderr}"
    );
}

/// `tmpfs` options as docker's `--tmpfs` takes them: flags over `noexec,nosuid,nodev`, `ro`,
/// size, mode and owner.
#[test]
fn tmpfs_options_reach_the_mount() {
    if !can_run() {
        return;
    }
    let compose = "services:
  app:
    image: busybox
    command: sleep 1000
    stop_signal: SIGKILL
    tmpfs:
      - /t1:noexec,nosuid,nodev,size=1m,mode=700,uid=65534,gid=65534
      - /t2:exec,suid,dev,ro
      - /t3
";
    let fixture = Fixture::new("tmpfs", compose);
    fixture.ok(&["up", "-d"]);
    assert_eq!(
        sh_ok(&fixture, "app", "stat -c '%a %u %g' /t1"),
        "700 65534 65534\n"
    );
    let mount = |target: &str| {
        sh_ok(&fixture, "app", "cat /proc/mounts")
            .lines()
            .find(|line| line.split(' ').nth(1) == Some(target))
            .unwrap_or_else(|| panic!("no mount at {target}"))
            .to_string()
    };
    let t1 = mount("/t1");
    for flag in ["rw", "nosuid", "nodev", "noexec", "size=1024k"] {
        assert!(t1.contains(flag), "{flag}: {t1}");
    }
    let t2 = mount("/t2");
    assert!(t2.contains(" ro,"), "{t2}");
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(!t2.contains(flag), "{flag}: {t2}");
    }
    assert!(mount("/t3").contains("noexec"), "docker's default");
    let (code, _, _) = sh(&fixture, "app", "touch /t2/x");
    assert_ne!(code, 0, "ro");
    // noexec: a script copied there does not run.
    let (code, _, _) = sh(&fixture, "app", "cp /bin/busybox /t1/bb && /t1/bb true");
    assert_ne!(code, 0, "noexec");
}

/// `provider:` services are handed to a plugin by docker compose; there are none here.
#[test]
fn provider_services_are_refused() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "provider",
        "services:\n  db:\n    provider:\n      type: awesomecloud\n      options: {type: mysql}\n  app:\n    image: busybox\n    depends_on: [db]\n",
    );
    let stderr = fixture.fails(&["up", "-d"]);
    assert!(
        stderr.contains("compose.yaml:3")
            && stderr.contains("providers are not supported (provider \"awesomecloud\")"),
        "{stderr}"
    );
    // Also as the dependency of the service asked for.
    let stderr = fixture.fails(&["up", "-d", "app"]);
    assert!(stderr.contains("providers are not supported"), "{stderr}");
}
