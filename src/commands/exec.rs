//! `rcompose exec`: run a command in a running service container, with the container's environment,
//! user and working directory (overridable); the command's exit code is rcompose's.

use std::io::IsTerminal;
use std::process::{ExitCode, Stdio};

use anyhow::{Context, bail};
use clap::Args;
use runtime::container::ExecSpec;

use super::scope::Scope;
use crate::cli::GlobalOptions;

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables (KEY=VALUE)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Index of the container if the service has several replicas
    #[arg(long, default_value_t = 1)]
    index: u32,
    /// Give extended privileges to the process
    #[arg(long)]
    privileged: bool,
    /// Run the command as this user
    #[arg(short, long)]
    user: Option<String>,
    /// Path to the working directory for this command
    #[arg(short, long)]
    workdir: Option<String>,
    /// Disable pseudo-TTY allocation (by default a TTY is allocated when stdin is a terminal)
    #[arg(short = 'T', long)]
    no_tty: bool,
    /// The service
    service: String,
    /// The command and its arguments
    #[arg(required = true)]
    command: Vec<String>,
}

pub fn run(global: &GlobalOptions, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let scope = Scope::open(global, &[])?;
    scope.check_services(std::slice::from_ref(&args.service))?;
    let containers = scope.containers(std::slice::from_ref(&args.service), false)?;
    let Some((container, _)) = containers.iter().find(|(c, _)| c.number == args.index) else {
        bail!(
            "service {:?} has no container number {} (is the project up?)",
            args.service,
            args.index
        );
    };
    let env = args
        .env
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some(_) => entry.clone(),
            // `-e NAME` takes the value from rcompose's environment, as docker does.
            None => format!("{entry}={}", std::env::var(entry).unwrap_or_default()),
        })
        .collect();
    // A pseudo-terminal when standard input is a terminal, as `docker compose exec` does, unless -T.
    let tty = !args.no_tty && !args.detach && std::io::stdin().is_terminal();
    let exec = ExecSpec {
        args: args.command.clone(),
        env,
        user: args.user.clone(),
        cwd: args.workdir.clone(),
        privileged: args.privileged,
        tty,
    };
    let mut command = scope
        .engine
        .containers
        .exec_command(&container.id, &exec)
        .with_context(|| format!("cannot exec in {}", container.name))?;
    if args.detach {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
            .spawn()
            .with_context(|| format!("cannot exec in {}", container.name))?;
        return Ok(ExitCode::SUCCESS);
    }
    let status = command
        .status()
        .with_context(|| format!("cannot exec in {}", container.name))?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}
