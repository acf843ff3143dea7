//! Image config edits: the `--change` instructions of `image import` (docker's `CMD`, `ENTRYPOINT`,
//! `ENV`, `WORKDIR`, `USER`, with Dockerfile syntax), applied to an OCI image config (oci-spec's
//! `Config`, so what is written is the OCI image spec's own shape).

use oci_spec::image::Config;

use super::Error;

/// One `--change` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(Vec<(String, String)>),
    WorkingDir(String),
    User(String),
}

impl Change {
    /// Parses an instruction as docker does: `CMD ["a","b"]` (exec form) or `CMD a b` (shell form, run
    /// by `/bin/sh -c`), `ENV K=V K2="v 2"` or `ENV K value`, `WORKDIR /dir`, `USER name[:group]`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let error = |reason: &str| Error::Change {
            change: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let (keyword, args) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let args = args.trim();
        let keyword = keyword.to_ascii_uppercase();
        if args.is_empty() && !keyword.is_empty() {
            return Err(error(&format!("{keyword} needs an argument")));
        }
        match keyword.as_str() {
            "CMD" => Ok(Self::Cmd(command(args))),
            "ENTRYPOINT" => Ok(Self::Entrypoint(command(args))),
            "ENV" => env(args).map(Self::Env).map_err(|reason| error(&reason)),
            "WORKDIR" => Ok(Self::WorkingDir(args.to_owned())),
            "USER" => Ok(Self::User(args.to_owned())),
            "" => Err(error("empty instruction")),
            other => Err(error(&format!(
                "{other} is not supported; use CMD, ENTRYPOINT, ENV, WORKDIR or USER"
            ))),
        }
    }
}

/// Exec form if the argument is a JSON array of strings, otherwise shell form.
fn command(args: &str) -> Vec<String> {
    if args.starts_with('[')
        && let Ok(words) = serde_json::from_str::<Vec<String>>(args)
    {
        return words;
    }
    vec!["/bin/sh".to_owned(), "-c".to_owned(), args.to_owned()]
}

fn env(args: &str) -> Result<Vec<(String, String)>, String> {
    let words = split_words(args)?;
    let first_has_equals = words.first().is_some_and(|word| word.contains('='));
    if !first_has_equals {
        // Legacy form: `ENV KEY the rest is the value`.
        let (key, value) = args
            .split_once(char::is_whitespace)
            .ok_or("ENV needs KEY=VALUE or KEY VALUE")?;
        return Ok(vec![(key.to_owned(), value.trim().to_owned())]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(format!("{word:?} is not KEY=VALUE")),
        })
        .collect()
}

/// Splits on whitespace, honouring double and single quotes and backslash escapes.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(chars.next().ok_or("trailing backslash")?);
                in_word = true;
            }
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated {c} quote")),
                        Some(end) if end == c => break,
                        Some('\\') if c == '"' => {
                            current.push(chars.next().ok_or("trailing backslash")?)
                        }
                        Some(other) => current.push(other),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Applies changes in order to an image config.
pub fn apply(config: &mut Config, changes: &[Change]) {
    for change in changes {
        match change {
            Change::Cmd(cmd) => {
                config.set_cmd(Some(cmd.clone()));
            }
            Change::Entrypoint(entrypoint) => {
                config.set_entrypoint(Some(entrypoint.clone()));
            }
            Change::Env(pairs) => {
                let mut env = config.env().clone().unwrap_or_default();
                for (key, value) in pairs {
                    let prefix = format!("{key}=");
                    env.retain(|entry| !entry.starts_with(&prefix) && entry != key);
                    env.push(format!("{key}={value}"));
                }
                config.set_env(Some(env));
            }
            Change::WorkingDir(dir) => {
                let joined = match config.working_dir() {
                    Some(previous) if !dir.starts_with('/') => {
                        format!("{}/{dir}", previous.trim_end_matches('/'))
                    }
                    _ => dir.clone(),
                };
                config.set_working_dir(Some(joined));
            }
            Change::User(user) => {
                config.set_user(Some(user.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn parses_docker_change_syntax() {
        assert_eq!(
            Change::parse(r#"CMD ["echo","hi there"]"#).unwrap(),
            Change::Cmd(strings(&["echo", "hi there"]))
        );
        assert_eq!(
            Change::parse("cmd echo hi").unwrap(),
            Change::Cmd(strings(&["/bin/sh", "-c", "echo hi"]))
        );
        assert_eq!(
            Change::parse("ENTRYPOINT [\"/bin/sh\"]").unwrap(),
            Change::Entrypoint(strings(&["/bin/sh"]))
        );
        assert_eq!(
            Change::parse(r#"ENV A=1 B="two words" C='x y' D=a\ b"#).unwrap(),
            Change::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x y".into()),
                ("D".into(), "a b".into())
            ])
        );
        assert_eq!(
            Change::parse("ENV PATH /usr/bin:/bin").unwrap(),
            Change::Env(vec![("PATH".into(), "/usr/bin:/bin".into())])
        );
        assert_eq!(
            Change::parse("WORKDIR /srv").unwrap(),
            Change::WorkingDir("/srv".into())
        );
        assert_eq!(
            Change::parse("USER 1000:1000").unwrap(),
            Change::User("1000:1000".into())
        );
    }

    #[test]
    fn rejects_unknown_and_empty() {
        for (text, expected) in [
            ("EXPOSE 80", "EXPOSE is not supported"),
            ("RUN true", "RUN is not supported"),
            ("CMD", "CMD needs an argument"),
            ("", "empty instruction"),
            ("ENV A=\"open", "unterminated"),
            ("ENV =x", "is not KEY=VALUE"),
        ] {
            let error = Change::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn applies_in_order() {
        let mut config = Config::default();
        let changes = [
            "ENV A=1 B=2",
            "ENV A=3",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER nobody",
            "CMD [\"run\"]",
        ]
        .map(|text| Change::parse(text).unwrap());
        apply(&mut config, &changes);
        assert_eq!(config.env().clone().unwrap(), strings(&["B=2", "A=3"]));
        assert_eq!(config.working_dir().as_deref(), Some("/srv/app"));
        assert_eq!(config.user().as_deref(), Some("nobody"));
        assert_eq!(config.cmd().clone().unwrap(), strings(&["run"]));
    }
}
