//! `run`, `top`, `wait`, `attach`, `cp`, `stats`, `events`, `pause`/`unpause` end to end with real
//! containers (root; see `common` for the gate and the fixture, which takes everything down after).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, can_run};
use serde_json::Value;

const RUN_APP: &str = r#"
services:
  db:
    image: busybox
    command: sh -c "trap 'exit 0' TERM; while true; do sleep 1; done"
  app:
    image: busybox
    command: sh -c "trap 'exit 0' TERM; while true; do sleep 1; done"
    environment: {COLOR: blue}
    restart: always
    depends_on: [db]
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// `rcompose` with the fixture's root and project, not started yet (as `Fixture::command` runs it).
fn rcompose(fixture: &Fixture, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rcompose"));
    command
        .env("RCOMPOSE_MASQUERADE", "0")
        .arg("--root")
        .arg(&fixture.root)
        .arg("-p")
        .arg(&fixture.name)
        .args(args)
        .current_dir(fixture.path())
        .env("RCOMPOSE_TEST", "1");
    command
}

/// Runs rcompose with `input` on its standard input.
fn command_with_input(fixture: &Fixture, args: &[&str], input: &[u8]) -> Output {
    let mut child = rcompose(fixture, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rcompose");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().expect("run rcompose")
}

#[test]
fn run_makes_one_off_containers_with_exit_codes_env_and_dependencies() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("verbsrun", RUN_APP);

    // --no-deps: the dependency stays down.
    let output = fixture.command(&["run", "--rm", "--no-deps", "-T", "app", "true"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        fixture.containers().is_empty(),
        "{:?}",
        fixture.containers()
    );

    // Environment from the service and the command line; stdout and stderr apart; the exit code;
    // the dependency started first; nothing left after --rm.
    let output = fixture.command(&[
        "run",
        "--rm",
        "-T",
        "-e",
        "EXTRA=1",
        "-w",
        "/tmp",
        "app",
        "sh",
        "-c",
        "echo $COLOR $EXTRA $PWD; echo oops >&2; exit 3",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "blue 1 /tmp\n");
    assert!(
        text(&output.stderr).contains("oops"),
        "{}",
        text(&output.stderr)
    );
    let containers = fixture.containers();
    let services: Vec<&str> = containers
        .iter()
        .map(|c| c["Service"].as_str().unwrap())
        .collect();
    assert_eq!(
        services,
        ["db"],
        "only the dependency remains: {containers:?}"
    );
    assert_eq!(containers[0]["State"], "running");

    // Standard input passes through.
    let output = command_with_input(
        &fixture,
        &["run", "--rm", "-T", "app", "cat"],
        b"piped in\n",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "piped in\n");

    // --entrypoint replaces the image's entrypoint and command.
    let output = fixture.command(&["run", "--rm", "-T", "--entrypoint", "echo hi", "app"]);
    assert_eq!(text(&output.stdout), "hi\n", "{}", text(&output.stderr));

    // A detached one-off: docker compose's name and labels, no restart policy, not a replica.
    let output = fixture.command(&["run", "-d", "-l", "purpose=test", "app", "sleep", "30"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let id = text(&output.stdout).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the container id: {id:?}");
    let one_off = fixture
        .containers()
        .into_iter()
        .find(|c| c["ID"] == id.as_str())
        .expect("the one-off is listed");
    let name = one_off["Name"].as_str().unwrap();
    let slug = name
        .strip_prefix("verbsrun-app-run-")
        .unwrap_or_else(|| panic!("one-off name {name}"));
    assert!(
        slug.len() == 12 && slug.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    // On the network it answers to its name, not to the service's (no --use-aliases).
    let hosts = fixture.ok(&["exec", "-T", "db", "cat", "/etc/hosts"]);
    assert!(
        hosts.lines().any(|l| l.ends_with(name)) && !hosts.lines().any(|l| l.ends_with(" app")),
        "{hosts}"
    );
    let labels = one_off["Labels"].as_str().unwrap();
    assert!(
        labels.contains("com.docker.compose.oneoff=True"),
        "{labels}"
    );
    assert!(labels.contains("com.docker.compose.slug="), "{labels}");
    assert!(labels.contains("purpose=test"), "{labels}");
    let plan = fixture.ok(&["up", "--dry-run"]);
    assert!(
        plan.contains("create container verbsrun-app-1") && !plan.contains("app-run-"),
        "the one-off is not app's replica: {plan}"
    );

    // `down` removes one-offs with the service's containers.
    fixture.ok(&["down", "-t", "1"]);
    assert!(
        fixture.containers().is_empty(),
        "{:?}",
        fixture.containers()
    );
}

const TOOLS_APP: &str = r#"
services:
  app:
    image: busybox
    command: sh -c "trap 'exit 0' TERM; while true; do sleep 1; done"
  waiter:
    image: busybox
    command: sh -c "sleep 2; exit 5"
  talker:
    image: busybox
    command: sh -c "echo before; sleep 2; echo after; exit 4"
"#;

#[test]
fn top_stats_pause_cp_wait_attach_and_events_on_running_containers() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("verbstools", TOOLS_APP);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    // Events from now on, followed while the project comes up.
    let mut events = rcompose(&fixture, &["events", "--json", "--since", &since])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run rcompose events");
    let lines = BufReader::new(events.stdout.take().unwrap());
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });

    fixture.ok(&["up", "-d"]);
    // attach and wait while the two short-lived services run.
    let attached = std::thread::scope(|scope| {
        let attach = scope.spawn(|| fixture.command(&["attach", "talker"]));
        let wait = fixture.command(&["wait", "waiter"]);
        assert_eq!(wait.status.code(), Some(5), "{}", text(&wait.stderr));
        assert!(
            text(&wait.stdout).contains("exited with status code 5"),
            "{}",
            text(&wait.stdout)
        );
        attach.join().unwrap()
    });
    assert_eq!(
        attached.status.code(),
        Some(4),
        "{}",
        text(&attached.stderr)
    );
    assert_eq!(text(&attached.stdout), "after\n", "only new output");

    // images: one row per container, the image they were made from, its id once with -q.
    let images: Value = serde_json::from_str(&fixture.ok(&["images", "--format", "json"])).unwrap();
    let rows = images.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{images}");
    assert!(
        rows.iter()
            .all(|r| r["Repository"] == "busybox" && r["Tag"] == "latest")
    );
    let id = rows[0]["ID"].as_str().unwrap();
    assert!(
        id.starts_with("sha256:") && rows.iter().all(|r| r["ID"] == id),
        "{images}"
    );
    assert!(rows[0]["Size"].as_u64().unwrap() > 0);
    assert_eq!(
        fixture.ok(&["images", "-q", "app"]).trim(),
        id.trim_start_matches("sha256:")
    );
    let table = fixture.ok(&["images"]);
    assert!(table.starts_with("CONTAINER "), "{table}");
    assert!(table.contains("verbstools-app-1"), "{table}");

    // events: the start of app's container, in docker compose's JSON shape.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut start = None;
    while start.is_none() && Instant::now() < deadline {
        if let Ok(line) = received.recv_timeout(Duration::from_millis(200)) {
            let event: Value = serde_json::from_str(&line).expect("one JSON object a line");
            if event["action"] == "start" && event["service"] == "app" {
                start = Some(event);
            }
        }
    }
    events.kill().unwrap();
    events.wait().unwrap();
    let start = start.expect("a start event for app");
    assert_eq!(start["type"], "container");
    assert_eq!(start["attributes"]["name"], "verbstools-app-1");
    assert_eq!(start["id"].as_str().unwrap().len(), 64);
    assert!(start["time"].as_str().unwrap().ends_with('Z'), "{start}");

    // top: the container's processes with their command lines.
    let top = fixture.ok(&["top", "app"]);
    let header = top.lines().next().unwrap();
    assert!(
        header.starts_with("SERVICE  #  UID") && header.ends_with("CMD"),
        "{top}"
    );
    assert!(
        top.lines()
            .any(|l| l.starts_with("app") && l.contains("sh -c trap")),
        "{top}"
    );

    // stats: docker's JSON fields, from the cgroup.
    let stats = fixture.ok(&["stats", "--no-stream", "--format", "json", "app"]);
    let rows: Vec<Value> = stats
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{stats}");
    for field in [
        "BlockIO",
        "CPUPerc",
        "Container",
        "ID",
        "MemPerc",
        "MemUsage",
        "Name",
        "NetIO",
        "PIDs",
    ] {
        assert!(rows[0][field].is_string(), "{field} in {stats}");
    }
    assert_eq!(rows[0]["Name"], "verbstools-app-1");
    assert!(rows[0]["CPUPerc"].as_str().unwrap().ends_with('%'));
    assert!(rows[0]["MemUsage"].as_str().unwrap().contains(" / "));
    assert!(rows[0]["PIDs"].as_str().unwrap().parse::<u32>().unwrap() >= 1);

    // pause/unpause: the freezer, shown by ps.
    let state = |fixture: &Fixture| {
        fixture
            .containers()
            .into_iter()
            .find(|c| c["Service"] == "app")
            .unwrap()["State"]
            .clone()
    };
    fixture.ok(&["pause", "app"]);
    assert_eq!(state(&fixture), "paused");
    assert!(fixture.ok(&["ps"]).contains("(Paused)"));
    // exec into a paused container is refused at once (it would freeze with the container).
    let refused = fixture.command(&["exec", "-T", "app", "true"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        text(&refused.stderr).contains("is paused, unpause the container before exec"),
        "{}",
        text(&refused.stderr)
    );
    fixture.ok(&["unpause"]);
    assert_eq!(state(&fixture), "running");

    // cp, both directions.
    let host = fixture.path().join("hello.txt");
    std::fs::write(&host, "from the host\n").unwrap();
    fixture.ok(&["cp", host.to_str().unwrap(), "app:/tmp/"]);
    let output = fixture.command(&["exec", "-T", "app", "cat", "/tmp/hello.txt"]);
    assert_eq!(text(&output.stdout), "from the host\n");
    fixture.ok(&[
        "exec",
        "-T",
        "app",
        "sh",
        "-c",
        "mkdir /tmp/made && echo inside > /tmp/made/f",
    ]);
    let out = fixture.path().join("copied");
    fixture.ok(&["cp", "app:/tmp/made", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "inside\n");
    // `-` streams a tar archive of the path, under its own name.
    let output = fixture.command(&["cp", "app:/tmp/made", "-"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut archive = tar::Archive::new(output.stdout.as_slice());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "made/f"), "{names:?}");

    // wait --down-project: the project goes once the container stops.
    fixture.ok(&["up", "-d", "waiter"]);
    let output = fixture.command(&["wait", "--down-project", "waiter"]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output.stderr));
    assert!(
        fixture.containers().is_empty(),
        "{:?}",
        fixture.containers()
    );
}

/// `scale SERVICE=NUM`: docker compose's `scale`, the service at that many containers with its
/// dependencies started (`--no-deps`: left alone), fewer removing the newest.
#[test]
fn scale_sets_the_number_of_containers_of_a_service() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("verbscale", RUN_APP);
    let running = |service: &str| -> usize {
        fixture
            .containers()
            .iter()
            .filter(|c| c["Service"] == service && c["State"] == "running")
            .count()
    };
    fixture.ok(&["scale", "app=3"]);
    assert_eq!(running("app"), 3);
    assert_eq!(running("db"), 1, "the dependency was not started");
    fixture.ok(&["stop", "db"]);
    fixture.ok(&["scale", "--no-deps", "app=1"]);
    assert_eq!(running("app"), 1);
    assert_eq!(running("db"), 0, "--no-deps started the dependency");
    let names: Vec<String> = fixture
        .containers()
        .iter()
        .filter(|c| c["Service"] == "app")
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, [format!("{}-app-1", fixture.name)]);
    let error = fixture.fails(&["scale", "app"]);
    assert!(error.contains("use SERVICE=NUM"), "{error}");
}

const REPLICAS: &str = r#"
services:
  web:
    image: busybox
    command: sh -c "echo this is a rather long command line; exec sleep 600"
    stop_signal: SIGKILL
    scale: 2
  job:
    image: busybox
    command: ["true"]
"#;

/// `ps --filter status=…`, `--no-trunc`, `--orphans`, and `logs --index`, as docker compose has
/// them.
#[test]
fn ps_filters_and_logs_of_one_replica() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("verbsfilter", REPLICAS);
    fixture.ok(&["up", "-d"]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["ps", "--format", "json"];
        all.extend_from_slice(args);
        fixture
            .ok(&all)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["Name"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let name = |suffix: &str| format!("{}-{suffix}", fixture.name);
    assert_eq!(names(&["--filter", "status=exited"]), [name("job-1")]);
    assert_eq!(
        names(&["--filter", "status=running"]),
        [name("web-1"), name("web-2")]
    );
    let error = fixture.fails(&["ps", "--filter", "label=x"]);
    assert!(error.contains("ps filters by `status=STATUS`"), "{error}");
    let table = fixture.ok(&["ps"]);
    assert!(!table.contains("rather long command line"), "{table}");
    let table = fixture.ok(&["ps", "--no-trunc"]);
    assert!(table.contains("rather long command line"), "{table}");
    // `job` is gone from the file: its container is an orphan.
    fixture.write(&REPLICAS.replace("  job:\n    image: busybox\n    command: [\"true\"]\n", ""));
    assert!(names(&["-a"]).contains(&name("job-1")));
    assert!(!names(&["-a", "--orphans=false"]).contains(&name("job-1")));

    // The replicas print their line right after they start: read until web-2's is there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let logs = fixture.ok(&["logs", "--no-color", "--index", "2", "web"]);
        if !logs.is_empty() || Instant::now() > deadline {
            break logs;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let prefixes: Vec<&str> = logs.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(prefixes, ["web-2"], "{logs}");
    let error = fixture.fails(&["logs", "--index", "3", "web"]);
    assert!(error.contains("no container with index 3"), "{error}");
}

/// `run -p HOST:CONTAINER` publishes a port of the one-off (which publishes none by default).
#[test]
fn run_publish_publishes_a_port_of_the_one_off() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("verbspublish", RUN_APP);
    let port = 20000 + fastrand::u16(..20000);
    let mut child = rcompose(
        &fixture,
        &[
            "run",
            "--rm",
            "-T",
            "--no-deps",
            "-p",
            &format!("127.0.0.1:{port}:7000"),
            "app",
            "sh",
            "-c",
            "echo published | nc -l -p 7000",
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stream, &mut text);
            if !text.is_empty() {
                break text;
            }
        }
        assert!(Instant::now() < deadline, "nothing published on {port}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(text, "published\n");
    let _ = child.wait();
    let error = fixture.fails(&["run", "--rm", "-p", "70000", "app", "true"]);
    assert!(error.contains("invalid --publish"), "{error}");
}

/// `logs -f` follows until Ctrl-C or until none of its containers runs any more, as docker
/// compose's does (it kept waiting after the containers had stopped, even after `down`).
#[test]
fn logs_follow_ends_when_the_containers_stop() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "verbslogsf",
        "services:\n  brief:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo first; sleep 2; echo last\"]\n",
    );
    fixture.ok(&["up", "-d"]);
    let begin = Instant::now();
    let output = rcompose(&fixture, &["logs", "-f", "--no-color"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = text(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(text.contains("first") && text.contains("last"), "{text}");
    assert!(
        begin.elapsed() < Duration::from_secs(15),
        "logs -f kept following"
    );
}

/// A service whose process ends with 0 when stopped is started again by `up` (it did not finish
/// its work as a one-shot does), while a one-shot that finished on its own is not run again.
#[test]
fn up_starts_a_stopped_service_again_but_not_a_finished_one_shot() {
    if !can_run() {
        return;
    }
    let project = "services:\n  worker:\n    image: busybox\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n  once:\n    image: busybox\n    command: [\"true\"]\n";
    let fixture = Fixture::new("verbsstopped", project);
    fixture.ok(&["up", "-d"]);
    let state = |service: &str| {
        fixture
            .containers()
            .iter()
            .find(|c| c["Service"] == service)
            .map(|c| c["State"].as_str().unwrap().to_string())
    };
    let once = fixture.id_of("once");
    fixture.ok(&["stop", "worker"]);
    assert_eq!(state("worker").as_deref(), Some("exited"));
    let plan = fixture.ok(&["up", "-d", "--dry-run"]);
    assert!(
        plan.contains("start container verbsstopped-worker-1: stopped"),
        "{plan}"
    );
    assert!(!plan.contains("once"), "{plan}");
    fixture.ok(&["up", "-d"]);
    assert_eq!(state("worker").as_deref(), Some("running"));
    assert_eq!(fixture.id_of("once"), once);
    // Nothing to do: `up` says what runs, as docker compose does.
    let again = fixture.command(&["--progress", "plain", "up", "-d"]);
    let said = text(&again.stderr);
    assert!(
        said.contains("Container verbsstopped-worker-1") && said.contains("Running"),
        "{said}"
    );
}

/// `-p NAME` away from the project's directory (no compose file found there): `ps` and `down`
/// work on the project from the files its containers were made from, as docker compose's do.
#[test]
fn a_named_project_is_found_from_anywhere_through_its_containers() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("verbsanywhere", RUN_APP);
    fixture.ok(&["up", "-d"]);
    let elsewhere = tempfile::tempdir().unwrap();
    let from_elsewhere = |args: &[&str]| {
        let mut command = rcompose(&fixture, args);
        command.current_dir(elsewhere.path());
        command.output().unwrap()
    };
    let ps = from_elsewhere(&["ps", "--services"]);
    assert!(ps.status.success(), "{ps:?}");
    assert_eq!(text(&ps.stdout), "app\ndb\n");
    assert!(text(&ps.stderr).contains("no compose file here"), "{ps:?}");
    let down = from_elsewhere(&["down"]);
    assert!(down.status.success(), "{down:?}");
    assert!(fixture.containers().is_empty());
    // With nothing left to find it by, the usual error.
    let ps = from_elsewhere(&["ps"]);
    assert_eq!(ps.status.code(), Some(14), "{ps:?}");
}

/// `run --env-from-file`: variables from a dotenv file, under `-e` (which wins).
#[test]
fn run_env_from_file_sets_the_one_offs_environment() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("verbsenvfile", RUN_APP);
    std::fs::write(
        fixture.path().join("extra.env"),
        "# comment\nFLAVOUR=salty\nQUOTED=\"two words\"\nCOLOR=red\n",
    )
    .unwrap();
    let out = fixture.ok(&[
        "run",
        "--rm",
        "-T",
        "--no-deps",
        "--env-from-file",
        "extra.env",
        "-e",
        "FLAVOUR=sweet",
        "app",
        "sh",
        "-c",
        "echo $FLAVOUR/$QUOTED/$COLOR",
    ]);
    assert_eq!(out, "sweet/two words/red\n");
    let error = fixture.fails(&[
        "run",
        "--rm",
        "--env-from-file",
        "missing.env",
        "app",
        "true",
    ]);
    assert!(
        error.contains("--env-from-file: cannot read missing.env"),
        "{error}"
    );
}

/// `create --pull POLICY` decides the pulls as `up --pull` does.
#[test]
fn create_takes_a_pull_policy() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("verbscreatepull", RUN_APP);
    let error = fixture.fails(&["create", "--pull", "sometimes"]);
    assert!(error.contains("invalid --pull \"sometimes\""), "{error}");
    fixture.ok(&["create", "--pull", "never", "--quiet-pull"]);
    assert_eq!(
        fixture
            .containers()
            .iter()
            .filter(|c| c["State"] == "created")
            .count(),
        2
    );
}
