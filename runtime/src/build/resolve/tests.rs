use super::*;
use crate::build::dockerfile::parse;
use crate::build::instructions::{CommandLine, program};

fn options(args: &[(&str, &str)], target: Option<&str>) -> Options {
    Options {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        target: target.map(str::to_owned),
        platform: Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: String::new(),
        },
        escape: '\\',
    }
}

fn base(reference: &str) -> Result<BaseConfig, String> {
    match reference {
        "debian:12" | "busybox" => Ok(BaseConfig {
            env: vec!["PATH=/usr/bin:/bin".into(), "LANG=C".into()],
            ..BaseConfig::default()
        }),
        "app:base" => Ok(BaseConfig {
            env: vec!["HOME=/root".into()],
            workdir: "/srv".into(),
            ..BaseConfig::default()
        }),
        "app:onbuild" => Ok(BaseConfig {
            on_build: vec![
                "ARG GREETING=hi".into(),
                "RUN echo $GREETING > /greeting".into(),
            ],
            ..BaseConfig::default()
        }),
        "app:bad-onbuild" => Ok(BaseConfig {
            on_build: vec!["FROM debian:12".into()],
            ..BaseConfig::default()
        }),
        other => Err(format!("no image {other}")),
    }
}

fn resolve_text(text: &str, options: &Options) -> Result<Vec<ResolvedStage>, Error> {
    resolve(&program(&parse(text).unwrap()).unwrap(), options, &base)
}

fn env_of(step: &Step, key: &str) -> Option<String> {
    step.env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

#[test]
fn meta_args_are_seen_by_from_only_unless_declared_again() {
    let stages = resolve_text(
        "ARG IMAGE=debian\nARG TAG=12\nARG V=meta\nFROM ${IMAGE}:${TAG}\nRUN echo $V\nARG V\nRUN echo $V\n",
        &options(&[], None),
    )
    .unwrap();
    let stage = &stages[0];
    assert_eq!(stage.base, Base::Image("debian:12".into()));
    assert_eq!(env_of(&stage.steps[0], "V"), None);
    assert_eq!(env_of(&stage.steps[2], "V").as_deref(), Some("meta"));
    // A build arg overrides a meta arg, in FROM too.
    let stages = resolve_text(
        "ARG TAG=11\nFROM debian:${TAG}\n",
        &options(&[("TAG", "12")], None),
    )
    .unwrap();
    assert_eq!(stages[0].base, Base::Image("debian:12".into()));
}

#[test]
fn stage_args_reach_run_but_not_the_image_config() {
    let stages = resolve_text(
        "FROM busybox\nARG VERSION=1.0 FLAVOR\nENV APP=app-$VERSION\nRUN make\n",
        &options(&[("FLAVOR", "small")], None),
    )
    .unwrap();
    let stage = &stages[0];
    let run = &stage.steps[2];
    assert!(
        matches!(run.kind, CommandKind::Run { command: CommandLine::Shell(ref s), .. } if s == "make")
    );
    assert_eq!(env_of(run, "VERSION").as_deref(), Some("1.0"));
    assert_eq!(env_of(run, "FLAVOR").as_deref(), Some("small"));
    assert_eq!(env_of(run, "APP").as_deref(), Some("app-1.0"));
    assert_eq!(env_of(run, "PATH").as_deref(), Some("/usr/bin:/bin"));
    let config: Vec<&str> = stage.config_env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(config, ["PATH", "LANG", "APP"]);
}

#[test]
fn env_words_are_expanded_before_any_is_set() {
    let stages = resolve_text(
        "FROM busybox\nENV a=1\nENV a=2 b=$a c=\"${a} and $LANG\"\nENV PATH=/opt/bin:$PATH\n",
        &options(&[], None),
    )
    .unwrap();
    let last = stages[0].steps.last().unwrap();
    assert_eq!(env_of(last, "a").as_deref(), Some("2"));
    assert_eq!(env_of(last, "b").as_deref(), Some("1"));
    assert_eq!(env_of(last, "c").as_deref(), Some("1 and C"));
    assert_eq!(
        env_of(last, "PATH").as_deref(),
        Some("/opt/bin:/usr/bin:/bin")
    );
}

#[test]
fn platform_args_are_meta_args() {
    let stages = resolve_text(
        "FROM --platform=$BUILDPLATFORM busybox\nRUN echo $TARGETARCH\nARG TARGETARCH TARGETPLATFORM\nRUN echo\n",
        &options(&[], None),
    )
    .unwrap();
    assert_eq!(env_of(&stages[0].steps[0], "TARGETARCH"), None);
    let last = stages[0].steps.last().unwrap();
    assert_eq!(env_of(last, "TARGETARCH").as_deref(), Some("amd64"));
    assert_eq!(
        env_of(last, "TARGETPLATFORM").as_deref(),
        Some("linux/amd64")
    );
}

#[test]
fn only_the_stages_the_target_needs_in_dependency_order() {
    let text = "FROM busybox AS tools\nRUN make tools\n\
                FROM debian:12 AS unused\nRUN exit 1\n\
                FROM busybox AS build\nCOPY --from=tools /t /t\nRUN --mount=type=cache,target=/c,from=deps make\n\
                FROM busybox AS deps\nRUN fetch\n\
                FROM build AS final\nCOPY --from=0 /x /x\n";
    let stages = resolve_text(text, &options(&[], None)).unwrap();
    let order: Vec<usize> = stages.iter().map(|s| s.index).collect();
    assert_eq!(order, [0, 3, 2, 4]);
    assert_eq!(stages[3].base, Base::Stage(2));
    assert_eq!(stages[3].needs, BTreeSet::from([0, 2]));
    let stages = resolve_text(text, &options(&[], Some("TOOLS"))).unwrap();
    assert_eq!(stages.len(), 1);
    let error = resolve_text(text, &options(&[], Some("nope"))).unwrap_err();
    assert_eq!(error.message, "target stage \"nope\" could not be found");
    assert!(error.hint.unwrap().contains("build"));
}

#[test]
fn a_stage_inherits_its_parent_stages_env_and_workdir() {
    let stages = resolve_text(
        "FROM app:base AS one\nARG A=1\nENV B=2\nWORKDIR app\nFROM one\nRUN true\n",
        &options(&[], None),
    )
    .unwrap();
    let child = &stages[1];
    let run = &child.steps[0];
    assert_eq!(env_of(run, "A").as_deref(), Some("1"));
    assert_eq!(env_of(run, "B").as_deref(), Some("2"));
    assert_eq!(run.workdir, "/srv/app");
    let keys: Vec<&str> = child.config_env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["HOME", "B"]);
}

#[test]
fn copy_workdir_user_expose_and_labels_are_expanded() {
    let stages = resolve_text(
        "FROM busybox\nARG DIR=/app USER=web PORTS=\"80 443\"\nWORKDIR $DIR\nWORKDIR ./sub/../lib\nCOPY --chown=$USER src/$USER* $DIR/\nUSER ${USER}:${USER}\nEXPOSE $PORTS 8080\nLABEL \"org.$USER\"=\"v $DIR\"\nRUN echo $DIR\n",
        &options(&[], None),
    )
    .unwrap();
    let kinds: Vec<&CommandKind> = stages[0].steps.iter().map(|s| &s.kind).collect();
    assert_eq!(kinds[1], &CommandKind::Workdir("/app".into()));
    assert_eq!(kinds[2], &CommandKind::Workdir("/app/lib".into()));
    let CommandKind::Copy {
        sources,
        dest,
        options,
    } = kinds[3]
    else {
        panic!()
    };
    assert_eq!(sources, &[Source::Path("src/web*".into())]);
    assert_eq!(dest, "/app/");
    assert_eq!(options.chown.as_deref(), Some("web"));
    assert_eq!(kinds[4], &CommandKind::User("web:web".into()));
    assert_eq!(
        kinds[5],
        &CommandKind::Expose(vec!["80".into(), "443".into(), "8080".into()])
    );
    assert_eq!(
        kinds[6],
        &CommandKind::Label(vec![Pair {
            key: "org.web".into(),
            value: "v /app".into()
        }])
    );
    // RUN keeps its text for the shell.
    assert!(
        matches!(kinds[7], CommandKind::Run { command: CommandLine::Shell(s), .. } if s == "echo $DIR")
    );
}

#[test]
fn errors_carry_the_line() {
    let error = resolve_text(
        "FROM busybox\nENV A=\"${B:?must be set}\"\n",
        &options(&[], None),
    )
    .unwrap_err();
    assert_eq!(error.line, 2);
    assert!(error.message.contains("B: must be set"), "{error}");
    let error = resolve_text("FROM nowhere:1\n", &options(&[], None)).unwrap_err();
    assert_eq!(
        (error.line, error.message.as_str()),
        (1, "no image nowhere:1")
    );
}

#[test]
fn onbuild_triggers_of_the_base_run_first_at_the_from_line() {
    let stages =
        resolve_text("FROM app:onbuild\nRUN cat /greeting\n", &options(&[], None)).unwrap();
    let steps = &stages[0].steps;
    assert_eq!(steps.len(), 3);
    assert_eq!((steps[0].line, steps[1].line, steps[2].line), (1, 1, 2));
    assert!(matches!(steps[1].kind, CommandKind::Run { .. }));
    assert!(
        steps[1]
            .env
            .contains(&("GREETING".to_owned(), "hi".to_owned()))
    );
    // A stage's own ONBUILD runs in a stage on it.
    let stages = resolve_text(
        "FROM busybox AS base\nONBUILD RUN true\nFROM base\nRUN false\n",
        &options(&[], None),
    )
    .unwrap();
    let last = stages.last().unwrap();
    assert_eq!(last.steps.len(), 2);
    assert_eq!(last.steps[0].line, 3);
    let error = resolve_text("FROM app:bad-onbuild\n", &options(&[], None)).unwrap_err();
    assert_eq!(error.line, 1);
    assert!(
        error
            .message
            .contains("isn't allowed as an ONBUILD trigger"),
        "{}",
        error.message
    );
}
