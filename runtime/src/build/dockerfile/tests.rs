use super::*;

fn instructions(text: &str) -> Vec<Instruction> {
    parse(text).unwrap().instructions
}

/// `KEYWORD [flags] args` per instruction, with JSON arguments as `json:[...]`.
fn summary(text: &str) -> Vec<String> {
    instructions(text)
        .iter()
        .map(|i| {
            let flags: String = i.flags.iter().map(|f| format!(" [{f}]")).collect();
            let args = match &i.args {
                Args::Text(text) => text.clone(),
                Args::Json(items) => format!("json:{items:?}"),
            };
            format!("{}{flags} {args}", i.keyword)
        })
        .collect()
}

#[test]
fn instructions_keywords_flags_and_forms() {
    assert_eq!(
        summary(
            "from  debian:12   AS build\n\
             run --mount=type=cache,target=/var/cache/apt apt-get update\n\
             CMD [\"nginx\", \"-g\", \"daemon off;\"]\n\
             ENTRYPOINT [\"a\", 1]x\n\
             COPY --from=build --chown=1:1 /out /usr/bin/\n\
             HEALTHCHECK --interval=5s CMD curl -f localhost\n\
             ENV A=1 B=\"two words\"\n"
        ),
        [
            "FROM debian:12   AS build",
            "RUN [--mount=type=cache,target=/var/cache/apt] apt-get update",
            "CMD json:[\"nginx\", \"-g\", \"daemon off;\"]",
            "ENTRYPOINT [\"a\", 1]x",
            "COPY [--from=build] [--chown=1:1] /out /usr/bin/",
            "HEALTHCHECK [--interval=5s] CMD curl -f localhost",
            "ENV A=1 B=\"two words\"",
        ]
    );
}

#[test]
fn a_json_array_of_other_than_strings_is_an_error() {
    let error = parse("FROM a\nCMD [\"a\", 1]\n").unwrap_err();
    assert_eq!(error.line, 2);
    assert!(error.message.contains("only strings"), "{error}");
}

#[test]
fn flags_take_quotes_and_escapes_and_stop_at_a_lone_double_dash() {
    assert_eq!(
        summary("FROM a\nRUN --mount=\"type=secret,id=a b\" --x=a\\ b -- --not-a-flag\n"),
        [
            "FROM a",
            "RUN [--mount=type=secret,id=a b] [--x=a b] --not-a-flag"
        ]
    );
    assert_eq!(
        summary("FROM a\nRUN --network=none\n"),
        ["FROM a", "RUN [--network=none] "]
    );
}

#[test]
fn continuations_join_lines_and_drop_comments_and_blank_lines() {
    let parsed = parse(
        "FROM a\n\
         RUN apt-get update \\\n\
         # a comment inside\n\
         \n\
         \t&& apt-get install -y \\\n\
         curl\n\
         RUN echo \\\\\n\
         RUN last\n",
    )
    .unwrap();
    let run = &parsed.instructions[1];
    assert_eq!(
        run.args,
        Args::Text("apt-get update \t&& apt-get install -y curl".into())
    );
    assert_eq!((run.line, run.end_line), (2, 6));
    // An escaped escape character at the end does not continue the line.
    assert_eq!(parsed.instructions[2].args, Args::Text("echo \\\\".into()));
    assert_eq!(parsed.instructions[3].line, 8);
    assert_eq!(parsed.warnings.len(), 1);
    assert!(
        parsed.warnings[0]
            .message
            .starts_with("Empty continuation line")
    );
}

#[test]
fn directives_count_only_at_the_top_and_once() {
    let parsed =
        parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\n")
            .unwrap();
    assert_eq!(parsed.escape, '`');
    assert_eq!(
        parsed
            .directives
            .iter()
            .map(|d| (d.name.as_str(), d.value.as_str(), d.line))
            .collect::<Vec<_>>(),
        [("syntax", "docker/dockerfile:1", 1), ("escape", "`", 2)]
    );
    assert_eq!(
        parsed.instructions[1].args,
        Args::Text("dir c:\\   && echo".into())
    );
    // After anything else, `# escape=` is a comment.
    let parsed = parse("# a comment\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(parsed.escape, '\\');
    assert!(parsed.directives.is_empty());
    assert_eq!(parsed.instructions[0].comments, ["a comment", "escape=`"]);
    let parsed = parse("\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(parsed.escape, '\\');
    let error = parse("# escape=`\n# escape=\\\nFROM a\n").unwrap_err();
    assert_eq!(
        error.message,
        "only one escape parser directive can be used"
    );
    let error = parse("# escape=x\nFROM a\n").unwrap_err();
    assert!(error.message.starts_with("invalid escape token"), "{error}");
    // Unknown directive names end the directives.
    let parsed = parse("# foo=bar\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(parsed.escape, '\\');
}

#[test]
fn heredocs_are_read_after_their_instruction() {
    let parsed = parse(
        "FROM a\n\
         RUN <<EOF\n\
         echo $HOME\n\
         FROM not-an-instruction\n\
         EOF\n\
         COPY <<-\"END\" 3<<two /dst\n\
         \t\tkeep $X\n\
         \tEND\n\
         second\n\
         two\n\
         RUN [\"a\", \"<<EOF\"]\n\
         ONBUILD RUN <<X\n\
         inner\n\
         X\n\
         CMD done\n",
    )
    .unwrap();
    let keywords: Vec<Keyword> = parsed.instructions.iter().map(|i| i.keyword).collect();
    assert_eq!(
        keywords,
        [
            Keyword::From,
            Keyword::Run,
            Keyword::Copy,
            Keyword::Run,
            Keyword::Onbuild,
            Keyword::Cmd
        ]
    );
    let run = &parsed.instructions[1];
    assert_eq!(run.heredocs.len(), 1);
    assert_eq!(run.heredocs[0].name, "EOF");
    assert!(run.heredocs[0].expand);
    assert_eq!(
        run.heredocs[0].content,
        "echo $HOME\nFROM not-an-instruction\n"
    );
    assert_eq!((run.line, run.end_line), (2, 5));
    let copy = &parsed.instructions[2];
    let names: Vec<(&str, u32, bool, bool)> = copy
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.fd, h.expand, h.chomp))
        .collect();
    assert_eq!(names, [("END", 0, false, true), ("two", 3, true, false)]);
    assert_eq!(copy.heredocs[0].text(), "keep $X\n");
    assert_eq!(copy.heredocs[1].content, "second\n");
    // The exec form reads no heredoc.
    assert!(parsed.instructions[3].heredocs.is_empty());
    assert_eq!(parsed.instructions[4].heredocs[0].content, "inner\n");
    assert_eq!(parsed.instructions[5].line, 15);
}

#[test]
fn an_unterminated_heredoc_is_an_error() {
    let error = parse("FROM a\nRUN <<EOF\necho\n").unwrap_err();
    assert_eq!(error.message, "unterminated heredoc");
    assert_eq!(error.line, 2);
    assert!(error.hint.unwrap().contains("\"EOF\""));
}

#[test]
fn unknown_instructions_name_the_nearest() {
    let error = parse("FROM a\nRUN true\nCOPPY a b\n").unwrap_err();
    assert_eq!(error.line, 3);
    assert_eq!(error.message, "unknown instruction: COPPY");
    assert_eq!(error.hint.as_deref(), Some("did you mean COPY?"));
    assert_eq!(
        error.to_string(),
        "line 3: unknown instruction: COPPY (did you mean COPY?)"
    );
    let error = parse("FROM a\nxyzzy\n").unwrap_err();
    assert!(!error.hint.unwrap().contains("did you mean"));
}

#[test]
fn empty_files_and_byte_order_marks() {
    assert_eq!(
        parse("# only a comment\n\n").unwrap_err().message,
        "file with no instructions"
    );
    assert_eq!(parse("").unwrap_err().message, "file with no instructions");
    assert_eq!(summary("\u{feff}FROM a\r\nRUN b\r\n"), ["FROM a", "RUN b"]);
}

#[test]
fn comments_attach_to_the_next_instruction() {
    let parsed = instructions("# first\n# second\nFROM a\n#\n# third\nRUN b\nRUN c\n");
    assert_eq!(parsed[0].comments, ["first", "second"]);
    assert_eq!(parsed[1].comments, ["third"]);
    assert!(parsed[2].comments.is_empty());
}
