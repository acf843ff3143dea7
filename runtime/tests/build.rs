//! The builder end to end on real containers: Dockerfiles built on a busybox image imported into a
//! temporary store, every RUN step in a container of this runtime without a network. Needs root and
//! busybox-static (a skip fails under `RCOMPOSE_TEST_ROOT=1`).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use runtime::build::copy::Context;
use runtime::build::dockerfile::parse;
use runtime::build::execute::{Builder, Error, Progress, Settings};
use runtime::build::ignore::Ignore;
use runtime::build::instructions::program;
use runtime::build::resolve::{BaseConfig, Options, Platform, resolve};
use runtime::container::{ContainerSpec, Helper, Runtime, Stream};
use runtime::image::{Image, ImageRef, ImageStore};

fn skip() -> bool {
    let strict = std::env::var("RCOMPOSE_TEST_ROOT").as_deref() == Ok("1");
    if !runtime::sys::is_root() || !Path::new("/bin/busybox").exists() {
        assert!(
            !strict,
            "needs root and busybox-static (RCOMPOSE_TEST_ROOT=1 is set)"
        );
        eprintln!("skipped: needs root and busybox-static");
        return true;
    }
    false
}

struct Fixture {
    dir: tempfile::TempDir,
    store: ImageStore,
    runtime: Runtime,
}

impl Fixture {
    /// A state root with busybox:latest imported.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        for sub in ["bin", "etc", "tmp"] {
            fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
            }
        }
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["-cf", "-", "."])
            .output()
            .unwrap();
        assert!(tar.status.success());
        let state = dir.path().join("state");
        let store = ImageStore::open(&state).unwrap();
        store
            .import(
                &tar.stdout[..],
                Some(&ImageRef::parse("busybox:latest").unwrap()),
                &[],
                "test",
            )
            .unwrap();
        let helper = Helper {
            program: env!("CARGO_BIN_EXE_rcompose-runtime").into(),
            args: Vec::new(),
        };
        let runtime = Runtime::open(&state, helper).unwrap();
        let context = dir.path().join("context");
        fs::create_dir_all(context.join("src")).unwrap();
        fs::write(context.join("src/app.sh"), "echo app says hi\n").unwrap();
        fs::write(context.join("src/notes.tmp"), "scratch\n").unwrap();
        fs::write(context.join(".dockerignore"), "**/*.tmp\n").unwrap();
        Fixture {
            dir,
            store,
            runtime,
        }
    }

    fn build(
        &self,
        dockerfile: &str,
        args: &[(&str, &str)],
        epoch: Option<i64>,
        name: &str,
    ) -> Result<Image, Error> {
        self.build_reporting(dockerfile, args, epoch, false, name)
            .map(|(image, _)| image)
    }

    /// Builds, and says for each step (by line) whether it came from the cache.
    fn build_reporting(
        &self,
        dockerfile: &str,
        args: &[(&str, &str)],
        epoch: Option<i64>,
        no_cache: bool,
        name: &str,
    ) -> Result<(Image, Vec<(usize, bool)>), Error> {
        let settings = Settings {
            epoch,
            no_cache,
            ..Settings::default()
        };
        self.build_with(dockerfile, args, settings, name)
    }

    /// Builds with `settings`, and says for each step (by line) whether it came from the cache.
    fn build_with(
        &self,
        dockerfile: &str,
        args: &[(&str, &str)],
        settings: Settings,
        name: &str,
    ) -> Result<(Image, Vec<(usize, bool)>), Error> {
        let parsed = parse(dockerfile).unwrap();
        let program = program(&parsed).unwrap();
        let options = Options {
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            target: None,
            platform: Platform::host(),
            escape: parsed.escape,
        };
        let store = &self.store;
        let base = |reference: &str| -> Result<BaseConfig, String> {
            let image = store.image(reference).map_err(|e| e.to_string())?;
            Ok(BaseConfig::of_image(&image))
        };
        let stages = resolve(&program, &options, &base).unwrap();
        let context_dir = self.dir.path().join("context");
        let ignore = Ignore::parse(
            &fs::read_to_string(context_dir.join(".dockerignore")).unwrap_or_default(),
        )
        .unwrap();
        let context = Context::dir(context_dir, ignore);
        let builder = Builder {
            store: &self.store,
            runtime: &self.runtime,
            context: Some(&context),
            settings,
        };
        let mut steps = Vec::new();
        let image = builder.build(
            &stages,
            Some(&ImageRef::parse(name).unwrap()),
            &mut |progress| {
                if let Progress::Done { step, cached, .. } = progress {
                    steps.push((step.line, cached));
                }
            },
        )?;
        Ok((image, steps))
    }

    /// Runs `args` (the image's command when empty) in a container of `image`; its stdout.
    fn run(&self, image: &Image, args: &[&str]) -> String {
        let mut spec = ContainerSpec::from_image(image).unwrap();
        if !args.is_empty() {
            spec.args = args.iter().map(|a| a.to_string()).collect();
        }
        let id = self.runtime.create(spec).unwrap();
        self.runtime.start(&id).unwrap();
        self.runtime
            .wait(&id, Some(Duration::from_secs(30)))
            .unwrap();
        let out: String = self
            .runtime
            .logs(&id)
            .unwrap()
            .iter()
            .filter(|e| e.stream == Stream::Stdout)
            .map(|e| e.log.clone())
            .collect();
        self.runtime.remove(&id, true).unwrap();
        out
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        // Every step's container is gone, and nothing of the state root stays mounted.
        assert!(
            self.runtime.list().unwrap().is_empty(),
            "a build container was left"
        );
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
        assert!(
            !mounts.contains(&self.dir.path().display().to_string()),
            "{mounts}"
        );
    }
}

const DOCKERFILE: &str = r#"FROM busybox:latest
ARG FLAVOR=plain
ENV GREETING=hello NAME=world
WORKDIR /app
RUN echo "$GREETING $NAME from $(pwd), $FLAVOR" > /app/out && rm /bin/vi
RUN <<EOF
mkdir -p /app/data
echo "$FLAVOR" > /app/data/flavor
EOF
RUN ["/bin/sh", "-c", "wget -q -T 1 http://127.0.0.1:1/ && echo online || echo offline > /app/network"]
LABEL org.example.flavor=$FLAVOR
EXPOSE 8080
USER nobody
HEALTHCHECK --interval=5s --retries=2 CMD test -f /app/out
ENTRYPOINT ["/bin/cat"]
CMD ["/app/out"]
"#;

#[test]
fn run_steps_become_layers_and_metadata_the_config() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let base_layers = fixture.store.image("busybox:latest").unwrap().layers.len();
    let image = fixture
        .build(DOCKERFILE, &[("FLAVOR", "spicy")], None, "built:latest")
        .unwrap();
    assert_eq!(
        image.layers.len(),
        base_layers + 4,
        "one layer per RUN, and WORKDIR's new /app"
    );
    let config = image.config.config().clone().unwrap();
    let env = config.env().clone().unwrap();
    assert!(env.contains(&"GREETING=hello".to_string()), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("FLAVOR=")),
        "an ARG leaked into the config: {env:?}"
    );
    assert_eq!(config.working_dir().as_deref(), Some("/app"));
    assert_eq!(config.user().as_deref(), Some("nobody"));
    assert_eq!(config.entrypoint().clone().unwrap(), ["/bin/cat"]);
    assert_eq!(config.cmd().clone().unwrap(), ["/app/out"]);
    assert_eq!(
        config
            .labels()
            .clone()
            .unwrap()
            .get("org.example.flavor")
            .map(String::as_str),
        Some("spicy")
    );
    assert_eq!(config.exposed_ports().clone().unwrap(), ["8080/tcp"]);
    // Docker's Healthcheck field, which the OCI config lacks, and a container gets it.
    let check = image.docker.healthcheck.clone().unwrap();
    assert_eq!(check.test, ["CMD-SHELL", "test -f /app/out"]);
    assert_eq!((check.interval, check.retries), (5_000_000_000, 2));
    let spec = ContainerSpec::from_image(&image).unwrap();
    let health = spec.healthcheck.unwrap();
    assert_eq!(health.test, ["/bin/sh", "-c", "test -f /app/out"]);
    assert_eq!((health.interval_ms, health.retries), (5_000, 2));
    let history = image.config.history().clone().unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.created_by().as_deref() == Some("ENV GREETING=hello NAME=world"))
    );
    // The image runs as built: its command, files from each step, the deleted file gone (a
    // whiteout), and the steps had no network.
    assert_eq!(fixture.run(&image, &[]), "hello world from /app, spicy\n");
    assert_eq!(
        fixture.run(&image, &["/bin/cat", "/app/data/flavor"]),
        "spicy\n"
    );
    assert_eq!(
        fixture.run(&image, &["/bin/cat", "/app/network"]),
        "offline\n"
    );
    assert_eq!(
        fixture.run(
            &image,
            &[
                "/bin/sh",
                "-c",
                "test -e /bin/vi && echo present || echo deleted"
            ]
        ),
        "deleted\n"
    );
    // No mount point stub of the runtime's made it into a built layer.
    for dir in &image.layer_dirs().unwrap()[base_layers..] {
        for stub in [
            "etc/hostname",
            "etc/hosts",
            "etc/resolv.conf",
            "proc",
            "sys",
            "dev",
        ] {
            assert!(
                fs::symlink_metadata(dir.join(stub)).is_err(),
                "{stub} in layer {}",
                dir.display()
            );
        }
    }
}

#[test]
fn a_failing_run_reports_its_line_code_and_output() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let error = fixture
        .build(
            "FROM busybox:latest\nRUN echo step one\nRUN echo about to fail; echo oops >&2; exit 3\n",
            &[],
            None,
            "failed:latest",
        )
        .unwrap_err();
    match &error {
        Error::RunFailed { line, code, output } => {
            assert_eq!((*line, *code), (3, 3));
            assert!(output.iter().any(|l| l == "oops"), "{output:?}");
        }
        other => panic!("{other}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("line 3: RUN exited with code 3:"),
        "{error}"
    );
    assert!(fixture.store.image("failed:latest").is_err());
}

#[test]
fn builds_with_source_date_epoch_are_reproducible() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let dockerfile = "FROM busybox:latest\nRUN mkdir -p /out && echo data > /out/file && touch /out/stamp\nCMD [\"cat\", \"/out/file\"]\n";
    let first = fixture
        .build(dockerfile, &[], Some(1_700_000_000), "repro:one")
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    // A cold build: every step runs again (no cache).
    let (second, steps) = fixture
        .build_reporting(dockerfile, &[], Some(1_700_000_000), true, "repro:two")
        .unwrap();
    assert!(steps.iter().all(|(_, cached)| !cached));
    assert_eq!(first.id, second.id, "same sources and epoch, same image");
    assert_eq!(
        first.config.created().as_deref(),
        Some("2023-11-14T22:13:20Z")
    );
    let unpinned = fixture.build(dockerfile, &[], None, "repro:three").unwrap();
    assert_ne!(first.id, unpinned.id);
}

#[test]
fn add_extracts_archives_and_heredocs_become_files() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let context = fixture.dir.path().join("context");
    let payload = fixture.dir.path().join("payload");
    fs::create_dir_all(payload.join("lib")).unwrap();
    fs::write(payload.join("lib/data.txt"), "from the archive\n").unwrap();
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&payload)
        .arg("-czf")
        .arg(context.join("payload.tgz"))
        .arg(".")
        .status()
        .unwrap();
    assert!(tar.success());
    let image = fixture
        .build(
            "FROM busybox:latest\nADD payload.tgz /opt/\nCOPY --chmod=755 <<EOF /usr/local/bin/report\n#!/bin/sh\ncat /opt/lib/data.txt\nEOF\nCMD [\"report\"]\n",
            &[],
            None,
            "added:latest",
        )
        .unwrap();
    assert_eq!(fixture.run(&image, &[]), "from the archive\n");
    let error = fixture
        .build(
            "FROM busybox:latest\nADD git@github.com:moby/moby.git /x\n",
            &[],
            None,
            "git:latest",
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("clone into the build context"),
        "{error}"
    );
}

/// Serves `body` to every GET on 127.0.0.1 (a thread per server, ended with the process); its
/// port.
fn serve(body: &'static [u8]) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    port
}

#[test]
fn add_downloads_urls_with_their_checksum() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let port = serve(b"downloaded\n");
    let sum = "sha256:b0a9b3e06ee8b6bc1a51d6dc5c37a2a6b8ceb39d6b7ba22765b1de3b05e8a2dc";
    let digest = {
        use std::process::Stdio;
        let mut child = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"downloaded\n").unwrap();
        let out = child.wait_with_output().unwrap();
        format!(
            "sha256:{}",
            String::from_utf8_lossy(&out.stdout)
                .split(' ')
                .next()
                .unwrap()
        )
    };
    let dockerfile = format!(
        "FROM busybox:latest\nADD --checksum={digest} http://127.0.0.1:{port}/files/notes.txt?v=1 /srv/\nCMD [\"sh\", \"-c\", \"cat /srv/notes.txt; stat -c '%a %Y' /srv/notes.txt\"]\n"
    );
    let (image, steps) = fixture
        .build_reporting(&dockerfile, &[], None, false, "url:latest")
        .unwrap();
    assert_eq!(steps, [(2, false), (3, false)]);
    // Named after the URL's path, 0600, the server's time, not extracted.
    assert_eq!(fixture.run(&image, &[]), "downloaded\n600 784111777\n");
    // The same content again: downloaded, and a cache hit.
    let (_, steps) = fixture
        .build_reporting(&dockerfile, &[], None, false, "url:latest")
        .unwrap();
    assert_eq!(steps, [(2, true), (3, false)]);
    let wrong = dockerfile.replace(&digest, sum);
    let error = fixture.build(&wrong, &[], None, "url:wrong").unwrap_err();
    assert!(error.to_string().contains("not the --checksum"), "{error}");
}

#[test]
fn onbuild_triggers_and_the_shell_pass_to_images_built_on_them() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    fs::write(fixture.dir.path().join("context/hello"), "hello\n").unwrap();
    let base = fixture
        .build(
            "FROM busybox:latest\nSHELL [\"/bin/sh\", \"-ec\"]\nONBUILD COPY hello /hello\nONBUILD RUN echo \"triggered with $0 $-\" > /triggered\n",
            &[],
            None,
            "onbase:latest",
        )
        .unwrap();
    assert_eq!(base.docker.on_build.len(), 2);
    assert_eq!(base.docker.shell, ["/bin/sh", "-ec"]);
    let child = fixture
        .build(
            "FROM onbase:latest\nRUN cat /hello /triggered > /both\n",
            &[],
            None,
            "onchild:latest",
        )
        .unwrap();
    assert!(
        child.docker.on_build.is_empty(),
        "triggers are not inherited"
    );
    assert_eq!(child.docker.shell, ["/bin/sh", "-ec"], "the shell is");
    let both = fixture.run(&child, &["cat", "/both"]);
    // The trigger ran with the base's `SHELL` (`-e` among the shell's flags).
    let flags = both
        .strip_prefix("hello\ntriggered with /bin/sh ")
        .unwrap_or_else(|| panic!("{both}"));
    assert!(flags.contains('e'), "{both}");
}

#[test]
fn copy_brings_context_files_with_dockerignore_owners_and_modes() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let image = fixture
        .build(
            "FROM busybox:latest\nWORKDIR /srv\nCOPY --chown=nobody --chmod=755 src/ app/\nRUN test ! -e app/notes.tmp && sh app/app.sh > out && stat -c '%u %a' app/app.sh >> out\nCMD [\"cat\", \"/srv/out\"]\n",
            &[],
            None,
            "copied:latest",
        )
        .unwrap();
    assert_eq!(fixture.run(&image, &[]), "app says hi\n65534 755\n");
    let error = fixture
        .build(
            "FROM busybox:latest\nCOPY missing.txt /\n",
            &[],
            None,
            "missing:latest",
        )
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("line 2: file not found in build context"),
        "{error}"
    );
}

#[test]
fn the_cache_reruns_only_what_a_change_invalidates() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let dockerfile = "FROM busybox:latest\nRUN echo one > /one\nCOPY src/ /src/\nRUN cat /src/app.sh > /copied\nCMD [\"cat\", \"/copied\"]\n";
    let layered = |steps: &[(usize, bool)]| -> Vec<(usize, bool)> {
        steps
            .iter()
            .copied()
            .filter(|(line, _)| [2, 3, 4].contains(line))
            .collect()
    };
    let (first, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "cached:1")
        .unwrap();
    assert_eq!(layered(&steps), [(2, false), (3, false), (4, false)]);
    let (again, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "cached:2")
        .unwrap();
    assert_eq!(layered(&steps), [(2, true), (3, true), (4, true)]);
    assert_eq!(
        first.layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>(),
        again.layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()
    );
    // A new modification time alone is no change.
    let app = fixture.dir.path().join("context/src/app.sh");
    let future = std::time::SystemTime::now() + Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&app)
        .unwrap()
        .set_modified(future)
        .unwrap();
    let (_, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "cached:3")
        .unwrap();
    assert_eq!(layered(&steps), [(2, true), (3, true), (4, true)]);
    // A changed file re-runs its COPY and what follows, nothing before.
    fs::write(&app, "echo changed\n").unwrap();
    let (changed, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "cached:4")
        .unwrap();
    assert_eq!(layered(&steps), [(2, true), (3, false), (4, false)]);
    assert_eq!(fixture.run(&changed, &[]), "echo changed\n");
    // --no-cache runs everything.
    let (_, steps) = fixture
        .build_reporting(dockerfile, &[], None, true, "cached:5")
        .unwrap();
    assert_eq!(layered(&steps), [(2, false), (3, false), (4, false)]);
    // The cache outlives `image rm` of what was built; `image prune` empties it.
    for tag in ["cached:1", "cached:2", "cached:3", "cached:4", "cached:5"] {
        fixture.store.remove(tag, true).unwrap();
    }
    let (_, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "cached:6")
        .unwrap();
    assert_eq!(layered(&steps), [(2, true), (3, true), (4, true)]);
    fixture.store.remove("cached:6", true).unwrap();
    fixture.store.prune().unwrap();
    let (_, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "cached:7")
        .unwrap();
    assert_eq!(layered(&steps), [(2, false), (3, false), (4, false)]);
}

#[test]
fn multi_stage_builds_copy_from_stages_and_images() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let dockerfile = "FROM busybox:latest AS build\nWORKDIR /src\nCOPY src/ .\nRUN mkdir -p /out && sh app.sh > /out/result && rm /bin/vi && ln -s result /out/link\n\
                      FROM busybox:latest AS unused\nRUN exit 1\n\
                      FROM busybox:latest\nCOPY --from=build /out/ /app/\nCOPY --from=busybox:latest /etc/passwd /copied-passwd\nCOPY --from=0 /src/app.sh /app.sh\nRUN test -L /app/link && test -x /bin/vi && echo ok > /checked\nCMD [\"cat\", \"/app/result\", \"/checked\"]\n";
    let parsed = parse(dockerfile).unwrap();
    let program = program(&parsed).unwrap();
    // Only the stages the target needs are built: the failing one is not.
    let (image, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "multi:latest")
        .unwrap();
    assert!(!steps.iter().any(|(line, _)| *line == 6), "{steps:?}");
    assert_eq!(program.stages.len(), 3);
    assert_eq!(fixture.run(&image, &[]), "app says hi\nok\n");
    assert_eq!(
        fixture.run(
            &image,
            &["/bin/sh", "-c", "head -1 /copied-passwd; cat /app.sh"]
        ),
        "root:x:0:0:root:/root:/bin/sh\necho app says hi\n"
    );
    // The final image has the base's layers and its own only.
    let base = fixture.store.image("busybox:latest").unwrap().layers.len();
    assert_eq!(image.layers.len(), base + 4);
    let error = fixture
        .build(
            "FROM busybox:latest\nCOPY --from=nowhere:1 /x /x\n",
            &[],
            None,
            "nofrom:latest",
        )
        .unwrap_err();
    assert!(error.to_string().contains("nowhere"), "{error}");
}

/// The files of the layer a step made (the image's last layer), as `path` lines.
fn last_layer_paths(image: &Image) -> Vec<String> {
    let dir = image.layer_dirs().unwrap().pop().unwrap();
    let mut found = Vec::new();
    let mut pending = vec![dir.clone()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            found.push(path.strip_prefix(&dir).unwrap().display().to_string());
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn run_mounts_cache_bind_secret_and_tmpfs() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let context = fixture.dir.path().join("context");
    fs::create_dir_all(context.join("conf")).unwrap();
    fs::write(context.join("conf/app.conf"), "port=1\n").unwrap();
    let secret = fixture.dir.path().join("token");
    fs::write(&secret, "s3cret").unwrap();
    let settings = || Settings {
        no_cache: true,
        secrets: [("token".to_owned(), secret.clone())].into(),
        ..Settings::default()
    };
    // The cache keeps what a step put there for the next build (no layer cache: the step runs
    // again); the bound context is read-only; the secret is readable at its default path; the
    // tmpfs is empty and writable; none of them is in the layer.
    let dockerfile = "FROM busybox:latest\nRUN --mount=type=cache,target=/var/cache/app --mount=target=/conf,source=conf --mount=type=secret,id=token --mount=type=tmpfs,target=/scratch \\\n    echo run >> /var/cache/app/runs && cat /var/cache/app/runs | wc -l > /count && cat /conf/app.conf > /seen && cat /run/secrets/token > /tmp/secret-copy && stat -c %a /run/secrets/token > /secret-mode && ! touch /conf/x && touch /scratch/x && test -z \"$(ls /var/cache/app/../app/runs 2>/dev/null | grep -v runs)\"\n";
    let (first, _) = fixture
        .build_with(dockerfile, &[], settings(), "mounts:one")
        .unwrap();
    let (second, _) = fixture
        .build_with(dockerfile, &[], settings(), "mounts:two")
        .unwrap();
    assert_eq!(fixture.run(&first, &["cat", "/count"]).trim(), "1");
    assert_eq!(fixture.run(&second, &["cat", "/count"]).trim(), "2");
    assert_eq!(fixture.run(&second, &["cat", "/seen"]), "port=1\n");
    assert_eq!(fixture.run(&second, &["cat", "/tmp/secret-copy"]), "s3cret");
    assert_eq!(fixture.run(&second, &["cat", "/secret-mode"]).trim(), "400");
    let paths = last_layer_paths(&second);
    for absent in ["var", "conf", "run", "scratch"] {
        assert!(!paths.iter().any(|p| p == absent), "{absent} in {paths:?}");
    }
    // The bound content is in the cache key, the secret is not.
    let settings = |secret_file: &Path| Settings {
        secrets: [("token".to_owned(), secret_file.to_owned())].into(),
        ..Settings::default()
    };
    let dockerfile = "FROM busybox:latest\nRUN --mount=target=/conf,source=conf --mount=type=secret,id=token,required cat /conf/app.conf /run/secrets/token > /out\n";
    let (_, steps) = fixture
        .build_with(dockerfile, &[], settings(&secret), "mounts:keyed")
        .unwrap();
    assert_eq!(steps, [(2, false)]);
    let other_secret = fixture.dir.path().join("other-token");
    fs::write(&other_secret, "changed").unwrap();
    let (_, steps) = fixture
        .build_with(dockerfile, &[], settings(&other_secret), "mounts:keyed")
        .unwrap();
    assert_eq!(steps, [(2, true)], "a secret's content is not in the key");
    fs::write(context.join("conf/app.conf"), "port=2\n").unwrap();
    let (image, steps) = fixture
        .build_with(dockerfile, &[], settings(&secret), "mounts:keyed")
        .unwrap();
    assert_eq!(steps, [(2, false)], "a bound file's content is");
    assert_eq!(fixture.run(&image, &["cat", "/out"]), "port=2\ns3cret");
    // A required secret the build lacks is an error naming it.
    let error = fixture
        .build_with(dockerfile, &[], Settings::default(), "mounts:nosecret")
        .unwrap_err();
    assert!(
        error.to_string().contains("secret \"token\" is required"),
        "{error}"
    );
}

#[test]
fn run_heredocs_run_as_scripts_and_feed_commands() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let dockerfile = "FROM busybox:latest\nRUN <<EOF\necho one > /one\necho two >> /one\nEOF\nRUN <<'SCRIPT'\n#!/bin/sh -e\necho \"from $0\" > /two\nSCRIPT\nRUN cat <<A > /three && cat <<B >> /three\nfirst\nA\nsecond\nB\n";
    let image = fixture
        .build(dockerfile, &[], None, "heredocs:latest")
        .unwrap();
    assert_eq!(fixture.run(&image, &["cat", "/one"]), "one\ntwo\n");
    assert_eq!(
        fixture.run(&image, &["cat", "/two"]),
        "from /dev/pipes/SCRIPT\n"
    );
    assert_eq!(fixture.run(&image, &["cat", "/three"]), "first\nsecond\n");
}

#[test]
fn steps_on_the_builds_bridge_get_an_address_and_the_bridge_goes_with_the_build() {
    if skip() {
        return;
    }
    use runtime::build::bridge::BuildBridge;
    use runtime::build::execute::StepNetwork;
    use runtime::network::Networks;
    let fixture = Fixture::new();
    let networks = Networks::open(&fixture.dir.path().join("state")).unwrap();
    let bridged = || Settings {
        network: StepNetwork::Bridge(BuildBridge {
            networks: networks.clone(),
            masquerade: false,
        }),
        ..Settings::default()
    };
    let dockerfile =
        "FROM busybox:latest\nRUN ip -o -4 addr show > /addresses && ip route > /routes\n";
    let (image, steps) = fixture
        .build_with(dockerfile, &[], bridged(), "bridged:latest")
        .unwrap();
    assert_eq!(steps, [(2, false)]);
    assert!(
        networks.list().unwrap().is_empty(),
        "the build's bridge is gone"
    );
    let addresses = fixture.run(&image, &["cat", "/addresses"]);
    assert!(addresses.contains("eth0"), "{addresses}");
    let routes = fixture.run(&image, &["cat", "/routes"]);
    assert!(routes.starts_with("default via"), "a way out: {routes}");
    // A build from the cache makes no bridge; one of a build killed before is removed by the next.
    let (_, steps) = fixture
        .build_with(dockerfile, &[], bridged(), "bridged:latest")
        .unwrap();
    assert_eq!(steps, [(2, true)]);
    networks
        .create(&runtime::network::NetworkSpec {
            name: "build-999999999-1-0".into(),
            labels: [("com.rcompose.build".to_owned(), "true".to_owned())].into(),
            ..Default::default()
        })
        .unwrap();
    let settings = Settings {
        no_cache: true,
        ..bridged()
    };
    fixture
        .build_with(dockerfile, &[], settings, "bridged:latest")
        .unwrap();
    assert!(networks.list().unwrap().is_empty());
    // Without a network, a step has loopback alone.
    let (isolated, _) = fixture
        .build_with(dockerfile, &[], Settings::default(), "isolated:latest")
        .unwrap();
    let addresses = fixture.run(&isolated, &["cat", "/addresses"]);
    assert!(!addresses.contains("eth0"), "{addresses}");
}

#[test]
fn a_rebuild_giving_the_same_layers_gives_the_same_image() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let source = fixture.dir.path().join("context/src.txt");
    fs::write(&source, "hello, first version\n").unwrap();
    let dockerfile = "FROM busybox:latest AS build\nCOPY src.txt /src.txt\nRUN cut -c1-5 /src.txt > /out\nFROM busybox:latest\nCOPY --from=build /out /out\nCMD [\"cat\", \"/out\"]\n";
    let (first, _) = fixture
        .build_reporting(dockerfile, &[], None, false, "same:latest")
        .unwrap();
    // A second later: a step made now would carry another time.
    std::thread::sleep(Duration::from_millis(1100));
    let (again, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "same:latest")
        .unwrap();
    // (The `CMD` at line 6 makes no layer: never cached.)
    assert_eq!(steps, [(2, true), (3, true), (5, true), (6, false)]);
    assert_eq!(first.id, again.id, "all from the cache: the same image");
    // The build stage's input changes but its output does not: its steps run again, the final
    // stage's come from the cache, and the image is the same.
    fs::write(&source, "hello, second version\n").unwrap();
    let (changed, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "same:latest")
        .unwrap();
    assert_eq!(steps, [(2, false), (3, false), (5, true), (6, false)]);
    assert_eq!(first.id, changed.id);
    assert_eq!(fixture.run(&changed, &[]), "hello\n");
}

#[test]
fn independent_stages_are_built_at_the_same_time() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let stage = |name: &str| {
        format!(
            "FROM busybox:latest AS {name}\nRUN cut -d' ' -f1 /proc/uptime > /start && sleep 1 && cut -d' ' -f1 /proc/uptime > /end\n"
        )
    };
    let dockerfile = format!(
        "{}{}FROM busybox:latest\nCOPY --from=one /start /one.start\nCOPY --from=one /end /one.end\nCOPY --from=two /start /two.start\nCOPY --from=two /end /two.end\n",
        stage("one"),
        stage("two")
    );
    let image = fixture
        .build(&dockerfile, &[], None, "parallel:latest")
        .unwrap();
    let read = |path: &str| -> f64 { fixture.run(&image, &["cat", path]).trim().parse().unwrap() };
    let (one, two) = (
        (read("/one.start"), read("/one.end")),
        (read("/two.start"), read("/two.end")),
    );
    assert!(
        one.0 < two.1 && two.0 < one.1,
        "the stages ran one after the other: {one:?} {two:?}"
    );
}

#[test]
fn workdir_makes_its_directory_owned_by_the_user() {
    if skip() {
        return;
    }
    let fixture = Fixture::new();
    let dockerfile = "FROM busybox:latest\nUSER nobody\nWORKDIR /data/app\nRUN touch made-by-nobody\nWORKDIR /data/app\nWORKDIR /tmp\nCMD [\"stat\", \"-c\", \"%U %a %n\", \"/data\", \"/data/app\", \"/data/app/made-by-nobody\"]\n";
    let (image, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "workdir:latest")
        .unwrap();
    // The existing directories make no layer (and nothing runs for them).
    assert_eq!(
        steps,
        [
            (2, false),
            (3, false),
            (4, false),
            (5, true),
            (6, true),
            (7, false)
        ]
    );
    assert_eq!(image.layers.len(), 3, "busybox, the directories, the RUN");
    assert_eq!(
        fixture.run(&image, &[]),
        "nobody 755 /data\nnobody 755 /data/app\nnobody 644 /data/app/made-by-nobody\n"
    );
    let (again, steps) = fixture
        .build_reporting(dockerfile, &[], None, false, "workdir:latest")
        .unwrap();
    assert_eq!(steps[1], (3, true));
    assert_eq!(again.id, image.id);
}
