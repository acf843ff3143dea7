//! `rcompose build` and `up` building images: a service's `build:` (a context directory with a
//! Dockerfile) built by rcompose's own builder on a busybox base image imported offline; the cache
//! across builds; `up --build` recreating only the rebuilt service. Root and busybox-static needed.

mod common;

use common::{Fixture, can_run};

const COMPOSE: &str = "services:\n  api:\n    build:\n      context: ./api\n      args: {GREETING: hello}\n    stop_grace_period: 1s\n  plain:\n    image: busybox:latest\n    command: [\"sleep\", \"600\"]\n";

const DOCKERFILE: &str = "FROM busybox:latest\nARG GREETING\nRUN echo \"$GREETING from the build\" > /greeting\nCOPY msg /app/msg\nHEALTHCHECK --interval=1s CMD test -f /greeting\nCMD [\"sh\", \"-c\", \"cat /greeting /app/msg; exec sleep 600\"]\n";

fn logs_of(fixture: &Fixture, service: &str, expected: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs = fixture.ok(&["logs", "--no-log-prefix", service]);
        if logs.contains(expected) || std::time::Instant::now() > deadline {
            return logs;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn up_builds_what_is_missing_and_up_build_recreates_only_the_rebuilt_service() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("buildproj", COMPOSE);
    let api = fixture.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(api.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(api.join("msg"), "version one\n").unwrap();
    // `up` builds the missing image, tagged <project>-<service>.
    let up = fixture.command(&["up", "-d"]);
    assert!(up.status.success(), "{up:?}");
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(stderr.contains("[api 3/3] COPY msg /app/msg"), "{stderr}");
    assert!(stderr.contains("Image buildproj-api Built"), "{stderr}");
    let logs = logs_of(&fixture, "api", "version one");
    assert!(
        logs.contains("hello from the build") && logs.contains("version one"),
        "{logs}"
    );
    // The image's HEALTHCHECK is the service's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let api = fixture
            .containers()
            .into_iter()
            .find(|c| c["Service"] == "api")
            .unwrap();
        if api["Health"] == "healthy" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{api}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let plain = fixture.id_of("plain");
    let first_api = fixture.id_of("api");
    // Nothing changed: a build takes every step from the cache.
    let build = fixture.command(&["build"]);
    assert!(build.status.success(), "{build:?}");
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(
        stderr.contains("RUN echo \"$GREETING from the build\" > /greeting CACHED"),
        "{stderr}"
    );
    assert!(stderr.contains("COPY msg /app/msg CACHED"), "{stderr}");
    // A changed file: `up --build` rebuilds from its COPY on and recreates only api.
    std::fs::write(api.join("msg"), "version two\n").unwrap();
    let up = fixture.command(&["up", "-d", "--build"]);
    assert!(up.status.success(), "{up:?}");
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(
        stderr.contains("RUN echo \"$GREETING from the build\" > /greeting CACHED"),
        "{stderr}"
    );
    assert!(!stderr.contains("COPY msg /app/msg CACHED"), "{stderr}");
    assert_ne!(fixture.id_of("api"), first_api, "api was not recreated");
    assert_eq!(fixture.id_of("plain"), plain, "plain was recreated");
    let logs = logs_of(&fixture, "api", "version two");
    assert!(logs.contains("version two"), "{logs}");
    // After a `build`, the plan says why api is recreated.
    std::fs::write(api.join("msg"), "version three\n").unwrap();
    fixture.ok(&["build", "api"]);
    let plan = fixture.ok(&["up", "--dry-run"]);
    assert!(plan.contains("image rebuilt (sha256:"), "{plan}");
    assert!(!plan.contains("plain"), "{plan}");
    // `build -q` prints the image id; `--build-arg` overrides the service's args.
    let id = fixture.ok(&["build", "-q", "--build-arg", "GREETING=hi", "api"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
}

#[test]
fn build_errors_name_the_dockerfile_line() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("builderr", "services:\n  api:\n    build: ./api\n");
    let api = fixture.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(api.join("Dockerfile"), "FROM busybox:latest\nRUNN true\n").unwrap();
    let error = fixture.fails(&["build"]);
    assert!(
        error.contains("Dockerfile:2: unknown instruction: RUNN")
            && error.contains("did you mean RUN?"),
        "{error}"
    );
    std::fs::write(
        api.join("Dockerfile"),
        "FROM busybox:latest\nRUN echo boom; exit 4\n",
    )
    .unwrap();
    let error = fixture.fails(&["up", "-d"]);
    assert!(
        error.contains("line 2: RUN exited with code 4") && error.contains("boom"),
        "{error}"
    );
    assert!(fixture.containers().is_empty());
    // --no-build: the missing image is an error that says how to build it.
    let error = fixture.fails(&["up", "-d", "--no-build"]);
    assert!(error.contains("rcompose build api"), "{error}");
    // An inline Dockerfile's errors name the compose key, not a file that does not exist.
    fixture.write("services:\n  api:\n    build:\n      context: .\n      dockerfile_inline: \"FROM busybox:latest\\nRUNN true\\n\"\n");
    let error = fixture.fails(&["build"]);
    assert!(
        error.contains("dockerfile_inline:2: unknown instruction: RUNN"),
        "{error}"
    );
    // A base image that cannot be pulled: its line ends marked as an error, not left pulling.
    fixture.write("services:\n  api:\n    build:\n      context: .\n      dockerfile_inline: \"FROM registry.invalid/nothing:1\\n\"\n");
    let output = fixture.command(&["--progress", "plain", "build"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("✘ Image registry.invalid/nothing:1") && stderr.contains("Error"),
        "{stderr}"
    );
}

/// Runs a one-off of `service` with `command` and returns its output.
fn run_in(fixture: &Fixture, service: &str, command: &str) -> String {
    fixture.ok(&["run", "--rm", "-T", service, "sh", "-c", command])
}

#[test]
fn build_labels_tags_hosts_and_shm_size_are_applied() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildkeys",
        "services:\n  api:\n    build:\n      context: ./api\n      labels: {com.example.team: backend}\n      tags: [\"example/api:1.0\"]\n      extra_hosts: [\"db.internal=10.1.2.3\"]\n      shm_size: 32m\n      network: none\n      cache_from: [\"type=local,src=/tmp/cache\"]\n    command: [\"sleep\", \"600\"]\n",
    );
    let api = fixture.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(
        api.join("Dockerfile"),
        "FROM busybox:latest\nLABEL from.dockerfile=yes\nRUN grep db.internal /etc/hosts > /hosts && df -k /dev/shm | tail -1 > /shm\n",
    )
    .unwrap();
    let build = fixture.command(&["build"]);
    assert!(build.status.success(), "{build:?}");
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(
        stderr.contains("build.cache_from has no meaning") && stderr.contains("\"api\""),
        "{stderr}"
    );
    assert!(stderr.contains("Image example/api:1.0 Built"), "{stderr}");
    let inspect: serde_json::Value =
        serde_json::from_str(&fixture.ok(&["image", "inspect", "buildkeys-api"])).unwrap();
    let image = &inspect[0];
    assert_eq!(image["Config"]["Labels"]["com.example.team"], "backend");
    assert_eq!(image["Config"]["Labels"]["from.dockerfile"], "yes");
    let tags = image["RepoTags"].to_string();
    assert!(
        tags.contains("buildkeys-api:latest") && tags.contains("example/api:1.0"),
        "{tags}"
    );
    // The tag names the same image.
    let tagged: serde_json::Value =
        serde_json::from_str(&fixture.ok(&["image", "inspect", "example/api:1.0"])).unwrap();
    assert_eq!(tagged[0]["Id"], image["Id"]);
    // The RUN step saw the extra host and a 32 MiB /dev/shm.
    let files = run_in(&fixture, "api", "cat /hosts /shm");
    assert!(files.contains("10.1.2.3\tdb.internal"), "{files}");
    assert!(files.contains(" 32768 "), "{files}");
    // A network the builder does not have is an error naming the service.
    fixture.write("services:\n  api:\n    build:\n      context: ./api\n      network: bridge\n");
    let error = fixture.fails(&["build"]);
    assert!(
        error.contains("service \"api\"") && error.contains("build.network \"bridge\""),
        "{error}"
    );
}

#[test]
fn additional_contexts_dir_service_and_image_feed_copy_from() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildctx",
        "services:\n  base:\n    build: ./base\n  api:\n    build:\n      context: ./api\n      additional_contexts:\n        extra: ./extra\n        basesvc: service:base\n        bb: docker-image://busybox:latest\n    command: [\"sleep\", \"600\"]\n",
    );
    let dir = fixture.path();
    for sub in ["base", "api", "extra"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("base/Dockerfile"),
        "FROM busybox:latest\nRUN echo made by base > /base.txt\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("api/Dockerfile"),
        "FROM busybox:latest\nCOPY --from=extra . /extra/\nCOPY --from=basesvc /base.txt /base.txt\nCOPY --from=bb /bin/busybox /copied-busybox\n",
    )
    .unwrap();
    std::fs::write(dir.join("extra/data.txt"), "extra data\n").unwrap();
    std::fs::write(dir.join("extra/private.key"), "not for images\n").unwrap();
    std::fs::write(dir.join("extra/.dockerignore"), "*.key\n").unwrap();
    // Building api alone builds base first: api reads its image.
    let build = fixture.command(&["build", "api"]);
    assert!(build.status.success(), "{build:?}");
    let stderr = String::from_utf8_lossy(&build.stderr);
    let base_at = stderr
        .find("Image buildctx-base Built")
        .expect("base built");
    let api_at = stderr.find("Image buildctx-api Built").expect("api built");
    assert!(base_at < api_at, "{stderr}");
    let files = run_in(
        &fixture,
        "api",
        "cat /extra/data.txt /base.txt; ls /extra; test -x /copied-busybox && echo copied",
    );
    assert!(
        files.contains("extra data") && files.contains("made by base") && files.contains("copied"),
        "{files}"
    );
    assert!(!files.contains("private.key"), "{files}");
    // A context that is neither a directory, a service nor a local image is refused by name.
    fixture.write("services:\n  api:\n    build:\n      context: ./api\n      additional_contexts:\n        extra: https://example.com/extra.git\n");
    let error = fixture.fails(&["build"]);
    assert!(
        error.contains("service \"api\"") && error.contains("additional_contexts.extra"),
        "{error}"
    );
}

/// The id of image `name`.
fn image_id(fixture: &Fixture, name: &str) -> String {
    let inspect: serde_json::Value =
        serde_json::from_str(&fixture.ok(&["image", "inspect", name])).unwrap();
    inspect[0]["Id"].as_str().unwrap().to_owned()
}

#[test]
fn services_sharing_a_build_are_built_once() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildshared",
        "services:\n  dep:\n    build:\n      context: ./app\n      dockerfile_inline: \"FROM busybox:latest\\nLABEL dep=1\\n\"\n  web:\n    build: ./app\n    depends_on: [dep]\n  worker:\n    build:\n      context: ./app\n      dockerfile: Dockerfile\n  other:\n    build:\n      context: ./app\n      args: {FLAVOUR: other}\n",
    );
    let app = fixture.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Dockerfile"),
        "FROM busybox:latest\nARG FLAVOUR=plain\nRUN echo \"$FLAVOUR\" > /flavour\n",
    )
    .unwrap();
    let build = fixture.command(&["build", "web", "worker", "other"]);
    assert!(build.status.success(), "{build:?}");
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(!stderr.contains("buildshared-dep"), "{stderr}");
    // web and worker: one build (its lines once), two names; other differs by an arg.
    let runs = stderr.matches("RUN echo \"$FLAVOUR\" > /flavour").count();
    assert_eq!(runs, 2, "{stderr}");
    assert!(
        stderr.contains("Image buildshared-web Built")
            && stderr.contains("Image buildshared-worker Built"),
        "{stderr}"
    );
    let web = image_id(&fixture, "buildshared-web");
    assert_eq!(image_id(&fixture, "buildshared-worker"), web);
    assert_ne!(image_id(&fixture, "buildshared-other"), web);
    // `build -q` prints each service's image id; --with-dependencies builds dep too.
    let ids = fixture.ok(&["build", "-q", "web", "worker"]);
    assert_eq!(ids, format!("{web}\n{web}\n"));
    let ids = fixture.ok(&["build", "-q", "--with-dependencies", "web"]);
    let dep = image_id(&fixture, "buildshared-dep");
    assert_eq!(ids, format!("{dep}\n{web}\n"));
}

#[test]
fn parallel_builds_of_two_services_both_succeed() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildpar",
        "services:\n  one:\n    build: ./one\n  two:\n    build: ./two\n",
    );
    for name in ["one", "two"] {
        let dir = fixture.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM busybox:latest\nRUN date +%s > /start && sleep 2 && date +%s > /end && echo {name} > /name\n"
            ),
        )
        .unwrap();
    }
    let build = fixture.command(&["build"]);
    assert!(build.status.success(), "{build:?}");
    let times = |service: &str| -> (u64, u64) {
        let text = fixture.ok(&[
            "run", "--rm", "-T", service, "cat", "/start", "/end", "/name",
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], service, "{text}");
        (lines[0].parse().unwrap(), lines[1].parse().unwrap())
    };
    let (one_start, one_end) = times("one");
    let (two_start, two_end) = times("two");
    // Each RUN sleeps 2s: one after the other, a build starts no earlier than the other ends.
    assert!(
        one_start < two_end && two_start < one_end,
        "not at once: one {one_start}..{one_end}, two {two_start}..{two_end}"
    );
}

#[test]
fn a_failing_build_names_its_service_and_line_and_the_others_finish() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildfail",
        "services:\n  good:\n    build: ./good\n  bad:\n    build: ./bad\n",
    );
    for (name, dockerfile) in [
        (
            "good",
            "FROM busybox:latest\nRUN sleep 1 && echo fine > /fine\n",
        ),
        (
            "bad",
            "FROM busybox:latest\nENV X=1\nRUN echo going wrong; exit 3\n",
        ),
    ] {
        let dir = fixture.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    }
    let build = fixture.command(&["build"]);
    assert_eq!(build.status.code(), Some(1), "{build:?}");
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(
        stderr.contains("service \"bad\": the build failed")
            && stderr.contains("bad/Dockerfile: line 3: RUN exited with code 3")
            && stderr.contains("going wrong"),
        "{stderr}"
    );
    // good was building at the same time: it finished and is stored.
    assert!(stderr.contains("Image buildfail-good Built"), "{stderr}");
    image_id(&fixture, "buildfail-good");
    assert!(
        fixture
            .fails(&["image", "inspect", "buildfail-bad"])
            .contains("no such image")
    );
}

#[test]
fn progress_quiet_prints_nothing_and_plain_prints_steps_and_output() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildquiet",
        "services:\n  api:\n    build:\n      context: .\n      dockerfile_inline: \"ARG BASE=busybox:latest\\nFROM $${BASE}\\nRUN echo hello from the step\\n\"\n",
    );
    let quiet = fixture.command(&["--progress", "quiet", "build"]);
    assert!(quiet.status.success(), "{quiet:?}");
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    assert_eq!(String::from_utf8_lossy(&quiet.stdout), "");
    image_id(&fixture, "buildquiet-api");
    let plain = fixture.command(&["--progress", "plain", "build", "--no-cache"]);
    assert!(plain.status.success(), "{plain:?}");
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(
        stderr.contains("api  | hello from the step")
            && stderr.contains("[api 1/2] FROM busybox:latest\n")
            && stderr.contains("[api 2/2] RUN echo hello from the step ")
            && stderr.contains("✔ Image buildquiet-api Built"),
        "{stderr}"
    );
    // -q: the id on stdout, nothing on stderr.
    let ids = fixture.command(&["build", "-q"]);
    assert!(ids.status.success(), "{ids:?}");
    assert_eq!(String::from_utf8_lossy(&ids.stderr), "");
    assert_eq!(
        String::from_utf8_lossy(&ids.stdout).trim(),
        image_id(&fixture, "buildquiet-api")
    );
}

#[test]
fn run_build_and_pull_policy_build_rebuild_before_running() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildrun",
        "services:\n  api:\n    build: ./api\n    pull_policy: build\n    command: [\"sleep\", \"600\"]\n    stop_grace_period: 1s\n  tool:\n    build: ./tool\n",
    );
    for name in ["api", "tool"] {
        let dir = fixture.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Dockerfile"),
            "FROM busybox:latest\nCOPY msg /msg\n",
        )
        .unwrap();
        std::fs::write(dir.join("msg"), format!("{name} one\n")).unwrap();
    }
    // `run` builds a missing image, then uses it as it is; `run --build` rebuilds.
    assert_eq!(
        fixture.ok(&["run", "--rm", "-T", "tool", "cat", "/msg"]),
        "tool one\n"
    );
    std::fs::write(fixture.path().join("tool/msg"), "tool two\n").unwrap();
    assert_eq!(
        fixture.ok(&["run", "--rm", "-T", "tool", "cat", "/msg"]),
        "tool one\n"
    );
    let run = fixture.command(&["run", "--build", "--rm", "-T", "tool", "cat", "/msg"]);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(String::from_utf8_lossy(&run.stdout), "tool two\n");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("Image buildrun-tool Built"),
        "{run:?}"
    );
    // pull_policy: build: every `up` builds api (a changed file recreates it), not tool.
    fixture.ok(&["up", "-d", "api"]);
    let first = fixture.id_of("api");
    std::fs::write(fixture.path().join("api/msg"), "api two\n").unwrap();
    let up = fixture.command(&["up", "-d", "api"]);
    assert!(up.status.success(), "{up:?}");
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(
        stderr.contains("[api 2/2] COPY msg /msg") && !stderr.contains("buildrun-tool"),
        "{stderr}"
    );
    assert_ne!(fixture.id_of("api"), first, "api was not recreated");
    let msg = fixture.ok(&["exec", "-T", "api", "cat", "/msg"]);
    assert_eq!(msg, "api two\n");
}

/// How many layers the fixture's image store has (a record per layer).
fn layer_count(fixture: &Fixture) -> usize {
    std::fs::read_dir(fixture.root.join("image/layers/sha256"))
        .map(|entries| entries.flatten().count())
        .unwrap_or(0)
}

#[test]
fn builder_prune_removes_cache_only_layers_and_a_rebuild_reruns_steps() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildprune",
        "services:\n  api:\n    build: ./api\n    command: [\"sleep\", \"600\"]\n",
    );
    let api = fixture.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    let version = |last: &str| {
        std::fs::write(
            api.join("Dockerfile"),
            format!("FROM busybox:latest\nRUN echo one > /one\nRUN echo {last} > /{last}\n"),
        )
        .unwrap();
    };
    version("two");
    let first = fixture.ok(&["build", "-q"]);
    // A second version: the name moves to the new image, and once the first (dangling now) is
    // removed, `RUN echo two`'s layer is held by the cache alone.
    version("three");
    fixture.ok(&["build"]);
    fixture.ok(&["image", "rm", first.trim()]);
    let before = layer_count(&fixture);
    let prune = fixture.ok(&["builder", "prune", "-f"]);
    assert!(
        prune.starts_with("Deleted build cache objects:\n"),
        "{prune}"
    );
    let reclaimed = prune
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("Total reclaimed space: "))
        .unwrap_or_else(|| panic!("{prune}"));
    assert!(reclaimed.ends_with('B') && reclaimed != "0B", "{prune}");
    assert_eq!(layer_count(&fixture), before - 1, "{prune}");
    // The image's layers stay: it still runs; its steps are still cached.
    assert_eq!(run_in(&fixture, "api", "cat /one /three"), "one\nthree\n");
    let build = fixture.command(&["build"]);
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(
        stderr.contains("RUN echo three > /three CACHED"),
        "{stderr}"
    );
    // The first version again: its own step runs again, the shared one is cached.
    version("two");
    let build = fixture.command(&["build"]);
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(
        stderr.contains("RUN echo one > /one CACHED") && !stderr.contains("/two CACHED"),
        "{stderr}"
    );
    // Nothing dangling left: nothing to reclaim.
    assert_eq!(
        fixture.ok(&["builder", "prune"]),
        "Total reclaimed space: 0B\n"
    );
    // -a forgets every step, yet removes no layer an image uses: every step runs again.
    let all = fixture.ok(&["builder", "prune", "-a", "-f"]);
    assert!(all.starts_with("Deleted build cache objects:\n"), "{all}");
    assert!(all.ends_with("Total reclaimed space: 0B\n"), "{all}");
    let build = fixture.command(&["build"]);
    assert!(build.status.success(), "{build:?}");
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(!stderr.contains("CACHED"), "{stderr}");
}

#[test]
fn build_secrets_from_a_file_and_an_environment_variable_reach_run_mounts() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildsecret",
        "services:\n  api:\n    build:\n      context: ./api\n      secrets: [token, {source: key, target: deploy_key}]\n    command: [\"sleep\", \"600\"]\nsecrets:\n  token:\n    environment: TOKEN\n  key:\n    file: ./deploy.key\n",
    );
    let api = fixture.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(fixture.path().join(".env"), "TOKEN=s3cret-token\n").unwrap();
    std::fs::write(fixture.path().join("deploy.key"), "key-material\n").unwrap();
    std::fs::write(
        api.join("Dockerfile"),
        "FROM busybox:latest\nRUN --mount=type=secret,id=token --mount=type=secret,id=deploy_key test \"$(cat /run/secrets/token)\" = s3cret-token && grep -q key-material /run/secrets/deploy_key && echo checked > /checked\n",
    )
    .unwrap();
    let build = fixture.command(&["build"]);
    assert!(build.status.success(), "{build:?}");
    assert_eq!(run_in(&fixture, "api", "cat /checked"), "checked\n");
    // The value written for the build is gone, and the image holds no secret.
    let written: Vec<_> = std::fs::read_dir(fixture.root.join("buildsecrets"))
        .unwrap()
        .flatten()
        .collect();
    assert!(written.is_empty(), "{written:?}");
    let files = run_in(&fixture, "api", "ls -A /run/secrets 2>/dev/null; echo end");
    assert_eq!(files, "end\n");
    // An unset variable is an error naming the service and the secret.
    std::fs::write(fixture.path().join(".env"), "").unwrap();
    let error = fixture.fails(&["build"]);
    assert!(
        error.contains("service \"api\"") && error.contains("TOKEN, which is not set"),
        "{error}"
    );
}

fn skopeo_json(args: &[&str]) -> serde_json::Value {
    let output = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo (installed by .ci/run)");
    assert!(output.status.success(), "skopeo {args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_built_image_round_trips_through_image_save_and_skopeo() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("buildsave", "services:\n  api:\n    build: ./app\n");
    let app = fixture.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Dockerfile"),
        "FROM busybox:latest\nCOPY msg /msg\nRUN cat /msg > /copy\nCMD [\"cat\", \"/copy\"]\n",
    )
    .unwrap();
    std::fs::write(app.join("msg"), "saved\n").unwrap();
    fixture.ok(&["build"]);
    let inspect: serde_json::Value =
        serde_json::from_str(&fixture.ok(&["image", "inspect", "buildsave-api"])).unwrap();
    let id = inspect[0]["Id"].as_str().unwrap().to_owned();
    let layers = inspect[0]["RootFS"]["Layers"].clone();
    assert_eq!(layers.as_array().unwrap().len(), 3, "{layers}");
    for format in ["oci-archive", "docker-archive"] {
        let archive = fixture.path().join(format!("{format}.tar"));
        let archive = archive.display().to_string();
        fixture.ok(&[
            "image",
            "save",
            "--format",
            format,
            "-o",
            &archive,
            "buildsave-api",
        ]);
        let source = format!("{format}:{archive}");
        let config = skopeo_json(&["inspect", "--config", &source]);
        assert_eq!(config["rootfs"]["diff_ids"], layers, "{format}");
        let raw = skopeo_json(&["inspect", "--raw", &source]);
        assert_eq!(
            raw["config"]["digest"].as_str(),
            Some(id.as_str()),
            "{format}"
        );
    }
}

/// The state of the one `RUN` step container under `root` once its command runs: its id and the
/// pid of its process.
fn running_step(fixture: &Fixture) -> (String, i32) {
    let containers = fixture.root.join("containers");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        for entry in std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .flatten()
        {
            let state = std::fs::read(entry.path().join("state.json"))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
            if let Some(state) = state
                && state["status"] == "running"
                && state["pid"].as_i64().unwrap_or(0) > 0
            {
                let id = entry.file_name().to_string_lossy().into_owned();
                return (id, state["pid"].as_i64().unwrap() as i32);
            }
        }
        assert!(std::time::Instant::now() < deadline, "no RUN step started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn alive(pid: i32) -> bool {
    // Not a zombie: a process that ended but is not yet reaped counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// Ctrl-C during a `RUN` step ends the step (its container removed, its command no longer
/// running); a build killed outright leaves the step running only until the next build, which
/// ends and removes it.
#[test]
fn an_interrupted_or_killed_build_leaves_no_step_running() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new("buildint", "services:\n  api:\n    build: ./api\n");
    let api = fixture.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(
        api.join("Dockerfile"),
        "FROM busybox:latest\nRUN echo started; sleep 600\n",
    )
    .unwrap();
    let containers = fixture.root.join("containers");
    let left = || -> Vec<String> {
        std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect()
    };

    // Ctrl-C.
    let build = fixture
        .cmd(&["build"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (_, step) = running_step(&fixture);
    // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
    unsafe { libc::kill(build.id() as i32, libc::SIGINT) };
    let begin = std::time::Instant::now();
    let output = build.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("interrupted"),
        "{stderr}"
    );
    assert!(begin.elapsed() < std::time::Duration::from_secs(20));
    assert!(!alive(step), "the step's command still runs after Ctrl-C");
    assert_eq!(
        left(),
        Vec::<String>::new(),
        "the step's container was left"
    );

    // kill -9: the step runs on (nothing could stop it), until the next build.
    let mut build = fixture
        .cmd(&["build"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (_, step) = running_step(&fixture);
    build.kill().unwrap();
    build.wait().unwrap();
    assert!(alive(step));
    std::fs::write(api.join("Dockerfile"), "FROM busybox:latest\nRUN true\n").unwrap();
    fixture.ok(&["build"]);
    assert!(
        !alive(step),
        "the next build left the killed build's step running"
    );
    assert_eq!(
        left(),
        Vec::<String>::new(),
        "the killed build's step container was left"
    );
}

/// `up --quiet-build` builds without printing the build's output; `up --build` prints it.
#[test]
fn up_quiet_build_prints_no_build_output() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildquietup",
        "services:\n  api:\n    build: ./api\n    command: [\"true\"]\n",
    );
    let api = fixture.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(
        api.join("Dockerfile"),
        "FROM busybox:latest\nRUN echo marker-of-the-build\n",
    )
    .unwrap();
    let text = |output: std::process::Output| {
        assert!(output.status.success(), "{output:?}");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let quiet = text(fixture.command(&["--progress", "plain", "up", "-d", "--quiet-build"]));
    assert!(!quiet.contains("marker-of-the-build"), "{quiet}");
    std::fs::write(
        api.join("Dockerfile"),
        "FROM busybox:latest\nRUN echo marker-of-the-build again\n",
    )
    .unwrap();
    let loud = text(fixture.command(&["--progress", "plain", "up", "-d", "--build"]));
    assert!(loud.contains("marker-of-the-build again"), "{loud}");
    // ps names the image by the name the build gave it, as docker compose does.
    let image = fixture.containers()[0]["Image"].clone();
    assert_eq!(image, "buildquietup-api");
}

/// An image one service builds (`build:` with `image:`) is what the services that only name it run:
/// `up` builds it and pulls nothing (a registry has no such image, or a stranger's).
#[test]
fn an_image_built_by_one_service_is_not_pulled_for_another() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildshared",
        "services:\n  a:\n    build: ./a\n    image: shared-built:1\n    command: [\"sleep\", \"600\"]\n    stop_signal: SIGKILL\n  b:\n    image: shared-built:1\n    command: [\"sleep\", \"600\"]\n    stop_signal: SIGKILL\n",
    );
    let dir = fixture.path().join("a");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox:latest\nRUN echo built > /mark\n",
    )
    .unwrap();
    fixture.ok(&["up", "-d"]);
    assert_eq!(run_in(&fixture, "b", "cat /mark"), "built\n");
}

/// A changed build arg re-runs the steps that use it, not those between its `ARG` and its first
/// use (BuildKit's cache keeps them).
#[test]
fn a_changed_build_arg_reruns_only_the_steps_that_use_it() {
    if !can_run() {
        return;
    }
    let fixture = Fixture::new(
        "buildargcache",
        "services:\n  api:\n    build: ./api\n    command: [\"true\"]\n",
    );
    let api = fixture.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(api.join("f"), "file\n").unwrap();
    std::fs::write(
        api.join("Dockerfile"),
        "FROM busybox:latest\nARG FLAVOUR=plain\nWORKDIR /w\nCOPY f /w/f\nRUN echo $FLAVOUR > /w/flavour\n",
    )
    .unwrap();
    let build = |flavour: &str| {
        let output = fixture.command(&[
            "--progress",
            "plain",
            "build",
            "--build-arg",
            &format!("FLAVOUR={flavour}"),
        ]);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    build("salty");
    let again = build("sweet");
    let line = |text: &str, step: &str| {
        text.lines()
            .find(|l| l.contains(step))
            .unwrap_or_else(|| panic!("no {step} in {text}"))
            .to_string()
    };
    assert!(line(&again, "COPY f /w/f").contains("CACHED"), "{again}");
    assert!(line(&again, "WORKDIR /w").contains("CACHED"), "{again}");
    assert!(!line(&again, "RUN echo").contains("CACHED"), "{again}");
    assert_eq!(run_in(&fixture, "api", "cat /w/flavour"), "sweet\n");
}
