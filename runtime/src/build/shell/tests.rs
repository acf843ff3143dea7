use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "PWD" => Some("/home".into()),
        "SHELL" => Some("bash".into()),
        "EMPTY" => Some(String::new()),
        "FILE" => Some("archive.tar.gz".into()),
        "PATHS" => Some("/usr/local/bin:/usr/bin:/bin".into()),
        "SPACED" => Some("a  b".into()),
        _ => None,
    }
}

fn word(text: &str) -> Result<String, Error> {
    Lexer::new('\\').word(text, &env)
}

/// (input, expected; `None` for an error), BuildKit's results.
const WORDS: &[(&str, Option<&str>)] = &[
    ("plain", Some("plain")),
    ("a'b'c", Some("abc")),
    ("a'bc", None),
    ("a\\'bc", Some("a'bc")),
    ("x\\ty", Some("xty")),
    ("\"x\\ty\"", Some("x\\ty")),
    ("\"x\\\\ty\"", Some("x\\ty")),
    ("'x\\ty'", Some("x\\ty")),
    ("end\\", Some("end")),
    ("end\\\\", Some("end\\")),
    ("\"open", None),
    ("'open", None),
    ("'a\\'", Some("a\\")),
    ("\"a'b\"", Some("a'b")),
    ("\"''\"", Some("''")),
    ("$.", Some("$.")),
    ("a$1b", Some("ab")),
    ("a$PWD", Some("a/home")),
    ("a\\$PWD", Some("a$PWD")),
    ("a\\\\$PWD", Some("a\\/home")),
    ("\"a\\$PWD\"", Some("a$PWD")),
    ("'$PWD'", Some("$PWD")),
    ("\\${}", Some("${}")),
    ("${}", None),
    ("a${.}", None),
    ("a${PWD", None),
    ("${UNSET}x", Some("x")),
    ("${PWD}x", Some("/homex")),
    ("${UNSET:-d}", Some("d")),
    ("${EMPTY:-d}", Some("d")),
    ("${EMPTY-d}", Some("")),
    ("${UNSET-d}", Some("d")),
    ("${PWD:-d}", Some("/home")),
    ("${UNSET:-${SHELL:-x}}", Some("bash")),
    ("${UNSET:-$PWD}", Some("/home")),
    ("${UNSET:+x}", Some("")),
    ("${EMPTY:+x}", Some("")),
    ("${EMPTY+x}", Some("x")),
    ("${PWD:+${SHELL}}", Some("bash")),
    ("${UNSET?}", None),
    ("${UNSET:?custom}", None),
    ("${EMPTY?}", Some("")),
    ("${EMPTY:?}", None),
    ("${PWD:?}", Some("/home")),
    ("${PWD:=x}", None),
    ("${UNSET:x}", None),
    ("${PWD:+${PWD}:}", Some("/home:")),
    ("${UNSET:-\\$PWD:}", Some("$PWD:")),
    ("${UNSET:-\\${PWD}z}", Some("${PWDz}")),
    ("\"${PWD}\"", Some("/home")),
    ("\"a'$PWD'\"", Some("a'/home'")),
    ("${FILE#*.}", Some("tar.gz")),
    ("${FILE##*.}", Some("gz")),
    ("${FILE%.*}", Some("archive.tar")),
    ("${FILE%%.*}", Some("archive")),
    ("${FILE#nomatch}", Some("archive.tar.gz")),
    ("${FILE#a?c}", Some("hive.tar.gz")),
    ("${FILE:#x}", None),
    ("${PATHS/:/ }", Some("/usr/local/bin /usr/bin:/bin")),
    ("${PATHS//:/ }", Some("/usr/local/bin /usr/bin /bin")),
    ("${PATHS//\\/usr/}", Some("/local/bin:/bin:/bin")),
    ("${FILE/*./}", Some("gz")),
    ("${FILE//*/x}", Some("x")),
    ("${FILE//?/x}", Some("xxxxxxxxxxxxxx")),
    ("${UNSET//*/x}", Some("x")),
    ("${PATHS/:", None),
    ("a<b", Some("a<b")),
    ("<<EOF", Some("<<EOF")),
    ("안'녕'하세요", Some("안녕하세요")),
    ("$", Some("$")),
    ("$@x", Some("x")),
];

#[test]
fn words_expand_as_buildkit_expands_them() {
    for (input, expected) in WORDS {
        match (word(input), expected) {
            (Ok(result), Some(expected)) => assert_eq!(&result, expected, "{input}"),
            (Err(_), None) => {}
            (result, expected) => panic!("{input}: got {result:?}, want {expected:?}"),
        }
    }
}

#[test]
fn the_escape_directive_changes_the_escape_character() {
    let lexer = Lexer::new('`');
    assert_eq!(lexer.word("a`$PWD", &env).unwrap(), "a$PWD");
    assert_eq!(lexer.word("C:\\path", &env).unwrap(), "C:\\path");
    assert_eq!(lexer.word("\"a`\"b\"", &env).unwrap(), "a\"b");
}

#[test]
fn words_split_after_expansion_and_keep_quoted_spaces() {
    let lexer = Lexer::new('\\');
    let words = |text: &str| lexer.words(text, &env).unwrap();
    assert_eq!(words("a b   c"), ["a", "b", "c"]);
    assert_eq!(words("'a b' c"), ["a b", "c"]);
    assert_eq!(words("\"a  b\" c"), ["a  b", "c"]);
    assert_eq!(words("$SPACED c"), ["a", "b", "c"]);
    assert_eq!(words("\"$SPACED\" c"), ["a  b", "c"]);
    assert_eq!(words("a\\ b c"), ["a b", "c"]);
    assert_eq!(words("  lead trail  "), ["lead", "trail"]);
    assert!(words("").is_empty());
}

#[test]
fn expansion_records_the_variables_it_used_and_missed() {
    let expansion = Lexer::new('\\')
        .process("$PWD ${UNSET:-x} ${SHELL}", &env)
        .unwrap();
    assert_eq!(expansion.result, "/home x bash");
    assert_eq!(
        expansion.matched.iter().collect::<Vec<_>>(),
        ["PWD", "SHELL"]
    );
    assert_eq!(expansion.unmatched.iter().collect::<Vec<_>>(), ["UNSET"]);
}

#[test]
fn keep_unset_leaves_unknown_references_as_written() {
    let lexer = Lexer {
        keep_unset: true,
        ..Lexer::new('\\')
    };
    assert_eq!(lexer.word("$PWD $UNSET", &env).unwrap(), "/home $UNSET");
    assert_eq!(lexer.word("${UNSET:-x}", &env).unwrap(), "${UNSET:-x}");
    assert_eq!(lexer.word("${UNSET}", &env).unwrap(), "${UNSET}");
}

#[test]
fn errors_name_the_word_and_the_problem() {
    let error = word("he${PWD").unwrap_err();
    assert_eq!(
        error.to_string(),
        "failed to process \"he${PWD\": syntax error: missing '}'"
    );
    let error = word("${UNSET:?must be set}").unwrap_err();
    assert!(error.to_string().ends_with("UNSET: must be set"), "{error}");
    let error = word("${EMPTY:?}").unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("EMPTY: is not allowed to be empty"),
        "{error}"
    );
}
