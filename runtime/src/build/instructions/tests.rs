use super::*;
use crate::build::dockerfile::parse;

fn program_of(text: &str) -> Program {
    program(&parse(text).unwrap()).unwrap()
}

fn error_of(text: &str) -> Error {
    program(&parse(text).unwrap()).unwrap_err()
}

fn kinds(text: &str) -> Vec<CommandKind> {
    program_of(text)
        .stages
        .remove(0)
        .commands
        .into_iter()
        .map(|c| c.kind)
        .collect()
}

#[test]
fn stages_with_names_platforms_and_meta_args() {
    let program = program_of(
        "ARG BASE=debian:12\nARG OTHER\nFROM --platform=$BUILDPLATFORM ${BASE} AS Build\nRUN make\nFROM scratch\nCOPY --from=build /out /\n",
    );
    assert_eq!(
        program.meta_args,
        [
            ArgDecl {
                name: "BASE".into(),
                default: Some("debian:12".into())
            },
            ArgDecl {
                name: "OTHER".into(),
                default: None
            },
        ]
    );
    assert_eq!(program.stages.len(), 2);
    let build = &program.stages[0];
    assert_eq!(build.name.as_deref(), Some("build"));
    assert_eq!(build.base, "${BASE}");
    assert_eq!(build.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!((build.line, build.commands.len()), (3, 1));
    assert_eq!(program.stages[1].name, None);
    assert_eq!(program.stages[1].commands[0].line, 6);
}

#[test]
fn stage_errors() {
    assert_eq!(
        error_of("FROM a AS\n").message,
        "FROM requires either one or three arguments"
    );
    assert!(
        error_of("FROM a AS 1st\n")
            .message
            .starts_with("invalid name for build stage")
    );
    assert!(
        error_of("FROM a AS b/c\n")
            .message
            .starts_with("invalid name for build stage")
    );
    let error = error_of("RUN true\nFROM a\n");
    assert_eq!(
        (error.line, error.message.as_str()),
        (1, "RUN comes before any FROM")
    );
    assert_eq!(
        error_of("ARG A\n").message,
        "no build stage in the Dockerfile"
    );
    assert_eq!(error_of("FROM --plat=x a\n").message, "unknown flag: plat");
}

#[test]
fn env_and_label_pairs_in_both_forms() {
    assert_eq!(
        kinds(
            "FROM a\nENV A=1 B=\"two words\" C=x\\ y\nENV LEGACY value with  spaces\nLABEL \"com.example.v\"=1\n"
        ),
        [
            CommandKind::Env(vec![
                Pair {
                    key: "A".into(),
                    value: "1".into()
                },
                Pair {
                    key: "B".into(),
                    value: "\"two words\"".into()
                },
                Pair {
                    key: "C".into(),
                    value: "x\\ y".into()
                },
            ]),
            CommandKind::Env(vec![Pair {
                key: "LEGACY".into(),
                value: "value with  spaces".into()
            }]),
            CommandKind::Label(vec![Pair {
                key: "\"com.example.v\"".into(),
                value: "1".into()
            }]),
        ]
    );
    assert_eq!(
        error_of("FROM a\nENV ONLY\n").message,
        "ENV must have two arguments"
    );
    assert!(
        error_of("FROM a\nENV A=1 B\n")
            .message
            .starts_with("Syntax error - can't find = in \"B\"")
    );
    assert_eq!(
        error_of("FROM a\nENV =x\n").message,
        "ENV names can not be blank"
    );
}

#[test]
fn run_cmd_entrypoint_and_shell() {
    let parsed = kinds(
        "FROM a\nRUN --mount=type=cache,target=/c --mount=type=secret,id=s --network=none make\nRUN [\"make\", \"install\"]\nCMD echo hi\nENTRYPOINT [\"/init\"]\nSHELL [\"/bin/bash\", \"-c\"]\nRUN <<EOF\nset -e\nEOF\n",
    );
    assert_eq!(
        parsed[0],
        CommandKind::Run {
            command: CommandLine::Shell("make".into()),
            mounts: vec!["type=cache,target=/c".into(), "type=secret,id=s".into()],
            network: Some("none".into()),
            security: None,
            heredocs: vec![],
        }
    );
    assert!(
        matches!(&parsed[1], CommandKind::Run { command: CommandLine::Exec(v), .. } if v == &["make", "install"])
    );
    assert_eq!(
        parsed[2],
        CommandKind::Cmd(CommandLine::Shell("echo hi".into()))
    );
    assert_eq!(
        parsed[3],
        CommandKind::Entrypoint(CommandLine::Exec(vec!["/init".into()]))
    );
    assert_eq!(
        parsed[4],
        CommandKind::Shell(vec!["/bin/bash".into(), "-c".into()])
    );
    assert!(
        matches!(&parsed[5], CommandKind::Run { heredocs, .. } if heredocs[0].content == "set -e\n")
    );
    assert_eq!(
        error_of("FROM a\nSHELL /bin/bash -c\n").message,
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(
        error_of("FROM a\nRUN --mount make\n").message,
        "missing a value on flag: mount"
    );
    assert_eq!(
        error_of("FROM a\nRUN --from=x make\n").message,
        "unknown flag: from"
    );
}

#[test]
fn copy_and_add_sources_destinations_and_options() {
    let parsed = kinds(
        "FROM a\nCOPY --from=build --chown=app:app --chmod=755 --link --exclude=*.md --exclude=tmp --parents src/ ./lib /app/\nADD --checksum=sha256:abc --keep-git-dir=false https://x/y.tar.gz /opt/\nCOPY [\"a b\", \"/c d/\"]\nCOPY <<conf <<-\"raw\" /etc/\nname=$X\nconf\n\tvalue=$Y\n\traw\n",
    );
    let CommandKind::Copy {
        sources,
        dest,
        options,
    } = &parsed[0]
    else {
        panic!("{parsed:?}")
    };
    assert_eq!(
        sources,
        &[Source::Path("src/".into()), Source::Path("./lib".into())]
    );
    assert_eq!(dest, "/app/");
    assert_eq!(
        options,
        &CopyOptions {
            from: Some("build".into()),
            chown: Some("app:app".into()),
            chmod: Some("755".into()),
            link: true,
            parents: true,
            exclude: vec!["*.md".into(), "tmp".into()],
            ..CopyOptions::default()
        }
    );
    let CommandKind::Add { options, .. } = &parsed[1] else {
        panic!()
    };
    assert_eq!(options.checksum.as_deref(), Some("sha256:abc"));
    assert!(!options.keep_git_dir);
    let CommandKind::Copy { sources, dest, .. } = &parsed[2] else {
        panic!()
    };
    assert_eq!(
        (sources[0].clone(), dest.as_str()),
        (Source::Path("a b".into()), "/c d/")
    );
    let CommandKind::Copy { sources, .. } = &parsed[3] else {
        panic!()
    };
    assert_eq!(
        sources,
        &[
            Source::Inline {
                name: "conf".into(),
                content: "name=$X\n".into(),
                expand: true
            },
            Source::Inline {
                name: "raw".into(),
                content: "value=$Y\n".into(),
                expand: false
            },
        ]
    );
    assert!(
        error_of("FROM a\nCOPY onlyone\n")
            .message
            .starts_with("COPY requires at least two arguments")
    );
    assert_eq!(
        error_of("FROM a\nADD --from=x a b\n").message,
        "unknown flag: from"
    );
    assert_eq!(
        error_of("FROM a\nCOPY --parents=maybe a b\n").message,
        "expecting boolean value for flag parents, not: maybe"
    );
    assert_eq!(
        error_of("FROM a\nCOPY --from=a --from=b a b\n").message,
        "duplicate flag specified: from"
    );
}

#[test]
fn single_value_and_list_instructions() {
    assert_eq!(
        kinds(
            "FROM a\nWORKDIR /my app\nUSER app:app\nSTOPSIGNAL SIGQUIT\nEXPOSE 8080/tcp 80\nVOLUME [\"/data\", \"/logs\"]\nVOLUME /a /b\nARG V=1 W\n"
        ),
        [
            CommandKind::Workdir("/my app".into()),
            CommandKind::User("app:app".into()),
            CommandKind::StopSignal("SIGQUIT".into()),
            CommandKind::Expose(vec!["80".into(), "8080/tcp".into()]),
            CommandKind::Volume(vec!["/data".into(), "/logs".into()]),
            CommandKind::Volume(vec!["/a".into(), "/b".into()]),
            CommandKind::Arg(vec![
                ArgDecl {
                    name: "V".into(),
                    default: Some("1".into())
                },
                ArgDecl {
                    name: "W".into(),
                    default: None
                },
            ]),
        ]
    );
    assert_eq!(
        error_of("FROM a\nUSER\n").message,
        "USER requires exactly one argument"
    );
    assert_eq!(
        error_of("FROM a\nEXPOSE\n").message,
        "EXPOSE requires at least one argument"
    );
    assert_eq!(
        error_of("FROM a\nVOLUME [\"\"]\n").message,
        "VOLUME specified can not be an empty string"
    );
}

#[test]
fn healthchecks() {
    assert_eq!(
        kinds(
            "FROM a\nHEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\nHEALTHCHECK CMD [\"true\"]\nHEALTHCHECK NONE\n"
        ),
        [
            CommandKind::Healthcheck(Health::Check {
                command: CommandLine::Shell("curl -f http://localhost/".into()),
                interval: Some("5s".into()),
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: Some(3),
            }),
            CommandKind::Healthcheck(Health::Check {
                command: CommandLine::Exec(vec!["true".into()]),
                interval: None,
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: None,
            }),
            CommandKind::Healthcheck(Health::None),
        ]
    );
    assert_eq!(
        error_of("FROM a\nHEALTHCHECK NONE x\n").message,
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        error_of("FROM a\nHEALTHCHECK CMD\n").message,
        "Missing command after HEALTHCHECK CMD"
    );
    assert!(
        error_of("FROM a\nHEALTHCHECK RUN x\n")
            .message
            .starts_with("Unknown type")
    );
    assert!(
        error_of("FROM a\nHEALTHCHECK --retries=-1 CMD x\n")
            .message
            .contains("--retries")
    );
}

#[test]
fn onbuild_triggers() {
    assert_eq!(
        kinds("FROM a\nONBUILD RUN <<EOF\nmake\nEOF\nONBUILD COPY . /src\n"),
        [
            CommandKind::Onbuild("RUN <<EOF\nmake\nEOF".into()),
            CommandKind::Onbuild("COPY . /src".into()),
        ]
    );
    assert_eq!(
        error_of("FROM a\nONBUILD ONBUILD RUN x\n").message,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        error_of("FROM a\nONBUILD FROM b\n").message,
        "FROM isn't allowed as an ONBUILD trigger"
    );
}

#[test]
fn words_keep_quotes_and_escapes_for_later_expansion() {
    assert_eq!(
        quoted_words("a=\"x y\" b='c d' e\\ f  g", '\\'),
        ["a=\"x y\"", "b='c d'", "e\\ f", "g"]
    );
    assert_eq!(quoted_words("a=`\"q`\"", '`'), ["a=`\"q`\""]);
    assert!(quoted_words("   ", '\\').is_empty());
}
