//! `rcompose login` and `logout`, as docker's: the credentials are checked against the registry
//! (a `/v2/` ping that must authenticate) and stored where docker stores them (a credential helper
//! if `config.json` names one, else its `auths`), so docker and rcompose share them.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use runtime::registry::resolve::{Settings, credential_key};
use runtime::registry::{self, Credential, credentials};

use crate::cli::GlobalOptions;
use crate::output;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry (Docker Hub when omitted)
    server: Option<String>,
    /// User name
    #[arg(short, long)]
    username: Option<String>,
    /// Password (prefer --password-stdin)
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from standard input
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub when omitted)
    server: Option<String>,
}

/// `https://registry.example/v2/` -> `registry.example`; none -> `docker.io`.
fn registry_host(server: Option<&str>) -> String {
    let Some(server) = server else {
        return "docker.io".to_owned();
    };
    let rest = server.split_once("://").map_or(server, |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

pub fn login(global: &GlobalOptions, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let host = registry_host(args.server.as_deref());
    let Some(username) = args.username else {
        bail!("a user name is needed (-u USER); rcompose does not prompt");
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(password), false) => {
            output::warnings(&[
                "using --password on the command line is insecure; use --password-stdin".to_owned(),
            ]);
            password
        }
        (None, true) => {
            if std::io::stdin().is_terminal() {
                bail!("--password-stdin: standard input is a terminal; pipe the password in");
            }
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the password from standard input")?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => bail!("a password is needed (--password-stdin); rcompose does not prompt"),
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let settings = Settings::load(&crate::engine::root(global))?;
    let endpoint = settings.endpoint(&host);
    let credential = Credential::Basic {
        username: username.clone(),
        password: password.clone(),
    };
    registry::check_login(&endpoint, &credential)
        .with_context(|| format!("cannot log in to {host}"))?;
    let key = credential_key(&host);
    let place = credentials::store(&key, &username, &password)?;
    output::status(&format!("credentials stored in {place}"));
    output::stdout("Login Succeeded\n")?;
    Ok(ExitCode::SUCCESS)
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<ExitCode> {
    let host = registry_host(args.server.as_deref());
    let key = credential_key(&host);
    if credentials::erase(&key)? {
        output::stdout(&format!("Removing login credentials for {key}\n"))?;
    } else {
        output::stdout(&format!("Not logged in to {key}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}
